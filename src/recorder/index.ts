export { startRecorder } from './recorder.ts';
export type { Recorder, RecorderOptions } from './recorder.ts';
export { startJanitor } from './janitor.ts';
export type { Janitor, JanitorOptions } from './janitor.ts';
