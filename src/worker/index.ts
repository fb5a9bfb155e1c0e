export { startWorker, newWorkerId } from './worker.ts';
export type { Worker, WorkerOptions } from './worker.ts';
export type { Executor, Outcome, ServiceDefinition, TaskRun } from './executor.ts';
export { createNodeExecutor, loadNodeService } from './executors/node.ts';
export type { NodeServiceContext, NodeServiceRun } from './executors/node.ts';
export { loadServiceDir } from './services.ts';
export type { LoadedServices, ManifestProblem } from './services.ts';
