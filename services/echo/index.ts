import type { ServiceRun } from 'errand';

/** Returns the task's input as its result. */
export const run: ServiceRun = (input) => input;
