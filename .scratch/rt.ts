import { warmRoundTrip } from '../bench/r-runtime.ts';
for (let i = 0; i < 3; i++) console.log(await warmRoundTrip(500));
