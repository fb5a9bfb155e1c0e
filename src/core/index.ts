export * from './ids.ts';
export * from './errors.ts';
export * from './duration.ts';
export * from './task.ts';
export * from './messages.ts';
export * from './batcher.ts';
export * from './service-name.ts';
export * from './json-input.ts';
