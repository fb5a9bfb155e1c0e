export { MAX_TRIES_OF_UNKNOWN_ERRORS, startRecorder } from './recorder.ts';
export type { Recorder, RecorderObserver, RecorderOptions } from './recorder.ts';
export { startJanitor } from './janitor.ts';
export type { Janitor, JanitorObserver, JanitorOptions } from './janitor.ts';
export { startWorkerWatch } from './worker-watch.ts';
export type { WorkerWatch, WorkerWatchOptions } from './worker-watch.ts';
