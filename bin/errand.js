#!/usr/bin/env node
// Runs the compiled roles in dist/, made from src/ by `npm run build` (`npm start` and `npm test`
// build first when src/ has changed).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('errand: dist/ is missing: run `npm run build` first (npm start and npm test build it themselves)\n');
  process.exit(1);
}
await import(main.href);
