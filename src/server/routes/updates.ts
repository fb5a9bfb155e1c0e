/**
 * Patavi's `WS /task/:id/updates`: progress messages as the worker sent them, then one terminal
 * message (`done` or `failed`, with the results href), then close. Only progress, done and failed
 * are sent here (MCDA's client treats anything else as an error): canceled and expired reach it
 * as failed. It is a view of the event log: the listener is in place before the task's state is
 * read, so a task finishing in between is never missed.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ErrandError, isTerminal, pataviTerminalEvent, resultsUrl, TERMINAL_EVENT_TYPES } from '../../core/index.ts';
import type { TaskInfo, TaskStatus } from '../../core/index.ts';
import type { RouteContext } from '../context.ts';
import { notFound, readerOf } from '../access.ts';
import { closeAtExpiry, CREDENTIAL_EXPIRED_CLOSE } from '../stream-expiry.ts';
import { webSocketSlot } from '../stream-limits.ts';
import { issuedTaskId } from './ids.ts';
import { errors, ID_PARAMS, SWITCHING_PROTOCOLS } from '../api-schemas.ts';

type IdParams = { Params: { id: string } };

/**
 * The task an upgrade asked for, as the check before it read it (the links need its owner), and
 * the hub's position just before that read: if the hub is still there once the socket listens,
 * no event came in between and that read is still the task's state.
 */
const checked = new WeakMap<FastifyRequest, { task: WatchedTask; position: number }>();

/** What a watcher needs of its task: whether it has ended, and whose it is. */
type WatchedTask = Pick<TaskInfo, 'status' | 'owner'>;

/**
 * The task's status and owner from the hub when it has followed the task from its start and the
 * task has not ended (a task submitted a moment ago, the usual watcher's), else from the
 * database. As of `position`. An ended task is read: its removal at its ttl writes no event.
 */
async function watchedTask(ctx: RouteContext, id: string): Promise<WatchedTask | undefined> {
  const known = ctx.events.known(id);
  if (known?.status === 'deleted') return undefined;
  if (!known || isTerminal(known.status)) return ctx.store.getTask(id);
  return { status: known.status, owner: known.owner };
}

export function registerUpdatesRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.route<IdParams>({
    method: 'GET',
    url: '/task/:id/updates',
    config: { websocket: true },
    schema: {
      operationId: 'watchTaskUpdates', tags: ['events'], summary: 'Patavi\'s WebSocket of a task\'s progress and end',
      description: 'Text frames `{taskId, eventType, eventData}`: progress as the script reported it, then one `done` or `failed` with `{href}` of the results, then close. Connect with a WebSocket client.',
      params: ID_PARAMS,
      response: { 101: SWITCHING_PROTOCOLS, ...errors(400, 401, 404, 426, 429, 503) },
    },
    preHandler: [
      // Refused before the upgrade, with an HTTP status a client can read: a task the caller may
      // not read is as absent as one that does not exist.
      async (request) => {
        const id = issuedTaskId(request.params.id);
        const { owner } = await readerOf(ctx.auth, request, id);
        const position = ctx.events.position;
        const task = await watchedTask(ctx, id);
        if (!task || (owner !== undefined && task.owner !== owner)) throw notFound(id);
        checked.set(request, { task, position });
      },
      // The client's WebSocket cap (429), also before the upgrade.
      webSocketSlot(ctx.streams),
    ],
    // The same URL without an upgrade: say what it needs (426 with Upgrade: websocket).
    handler: async () => {
      throw new ErrandError('websocket_required', 'this is a WebSocket endpoint: connect with a WebSocket client (Connection: Upgrade, Upgrade: websocket)');
    },
    wsHandler: watchTask(ctx),
  });
}

function watchTask(ctx: RouteContext) {
  return async (socket: WebSocket, request: FastifyRequest<IdParams>): Promise<void> => {
    const id = request.params.id;
    const caller = await ctx.auth.caller(request);
    // A browser that came with a task link fetches the results with the same token.
    const before = checked.get(request);
    const href = resultsUrl(ctx.linker.baseFor(caller, { id, owner: before?.task.owner ?? null }), id);
    let ended = false;
    let expiry = { cancel() {} };
    const finish = (eventType: 'done' | 'failed'): void => {
      if (ended) return;
      ended = true;
      expiry.cancel();
      listener.close();
      socket.send(JSON.stringify({ taskId: id, eventType, eventData: { href } }));
      socket.close(1000, eventType);
    };

    const listener = ctx.events.listen({ tasks: new Set([id]) }, (event) => {
      if (ended) return;
      if (event.type === 'progress') {
        socket.send(JSON.stringify({ taskId: id, eventType: 'progress', eventData: (event.data as { value?: unknown } | null)?.value ?? null }));
      } else if (TERMINAL_EVENT_TYPES.has(event.type)) {
        finish(pataviTerminalEvent(event.type as TaskStatus));
      } else if (event.type === 'deleted') {
        ended = true;
        expiry.cancel();
        listener.close();
        socket.close(1008, 'task deleted');
      }
    });
    expiry = closeAtExpiry(caller, () => {
      ended = true;
      listener.close();
      socket.close(CREDENTIAL_EXPIRED_CLOSE, 'credential expired: connect again with a fresh one');
    });
    socket.on('close', () => { expiry.cancel(); listener.close(); });
    try {
      // Read again only when events came between the check and the listener (see `checked`).
      const task = before && listener.from === before.position && before.position >= 0 ? before.task : await watchedTask(ctx, id);
      if (!task) {
        listener.close();
        socket.close(1008, 'task deleted');
      } else if (isTerminal(task.status)) finish(pataviTerminalEvent(task.status));
    } catch (err) {
      request.log.warn({ taskId: id, err: (err as Error).message }, 'could not watch task');
      listener.close();
      socket.close(1011, 'cannot watch the task now; retry');
    }
  };
}
