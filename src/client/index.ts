/**
 * `errand/client`: Errand's typed client for browsers and Node. The dashboard and the CLI use it.
 *
 *   import { createClient } from 'errand/client';
 *   const errand = createClient({ url: 'http://localhost:3000', key: process.env.ERRAND_KEY });
 *   const task = await errand.submit('slow', { duration: 2 });
 *   for await (const event of errand.watch(task.id)) console.log(event.type, event.data);
 *   console.log(await errand.results(task.id));
 */
export { createClient, ErrandClient, JsonText, parseClientUrl } from './client.ts';
export type { ClientOptions, SubmitOptions, WaitOptions, WatchOptions } from './client.ts';
export { ErrandApiError, ErrandConnectionError, isErrandApiError, isTransient } from './errors.ts';
export { isPlainFileName, linkedResultFiles } from './result-links.ts';
export type { LinkedFile } from './result-links.ts';
export { readServerSentEvents } from './sse.ts';
export type { ServerSentEvent } from './sse.ts';
export { EVENT_TYPES, TERMINAL_EVENT_TYPES, TERMINAL_STATUSES } from './types.ts';
export type { EventType, Link, ServiceDetail, ServiceStats, ServiceSummary, TaskDescription, TaskError, TaskEvent, TaskFilter, TaskPage, TaskProgress, TaskStatus, WorkerView } from './types.ts';
