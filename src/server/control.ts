/**
 * The server's side of `errand.control`: a worker that starts asks which queued tasks were
 * stopped (canceled or expired) before it came, so that it never runs one; every server answers
 * from the database. Cancels themselves are sent by the routes that make them.
 */
import type { Logger } from 'pino';
import type { Broker, Subscription } from '../broker/index.ts';
import { encodeControl, parseControl } from '../core/index.ts';
import type { TaskReads } from '../store/index.ts';

/** How far back the answer reaches: a task message older than this is taken to be long gone. */
const SYNC_WINDOW_SECONDS = 24 * 3600;
const SYNC_LIMIT = 10_000;

export async function answerControlMessages(options: { store: Pick<TaskReads, 'stoppedBeforeStart'>; broker: Broker; logger: Logger }): Promise<Subscription> {
  const log = options.logger.child({ part: 'control' });
  return options.broker.listen('control', (body) => {
    const message = parseControl(body);
    if (message?.type !== 'sync') return;
    options.store.stoppedBeforeStart(SYNC_WINDOW_SECONDS, SYNC_LIMIT)
      .then((taskIds) => options.broker.broadcast('control', encodeControl({ type: 'cancel', taskIds })))
      .catch((err: Error) => log.warn({ err: err.message, worker: message.worker }, 'could not answer a worker\'s sync'));
  });
}
