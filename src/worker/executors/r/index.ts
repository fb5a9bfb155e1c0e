export { createRExecutor } from './r-executor.ts';
export type { RExecutor, RExecutorOptions } from './r-executor.ts';
export { RLoadError } from './r-process.ts';
