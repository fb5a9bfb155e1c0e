/**
 * The child process that runs one Node service: `node [--import tsx] child.js <entry>`. Loads the
 * module once, says `ready` (or `load_failed`), then runs the tasks the worker sends, one at a
 * time. It leaves when the worker disconnects; a task that ignores its stop is the worker's to
 * kill. Imports only load.ts and protocol.ts, to start fast.
 */
import { errorCode, errorMessage, loadNodeService } from './load.ts';
import type { NodeServiceContext, NodeServiceRun } from './load.ts';
import type { FileMessage, FromChild, ToChild } from './protocol.ts';

const entryPath = process.argv[2]!;

function send(message: FromChild, then?: () => void): void {
  try {
    process.send!(message, undefined, undefined, () => then?.());
  } catch {
    // The worker is gone: 'disconnect' ends this process.
    then?.();
  }
}

function leave(status: number): void {
  process.exit(status);
}

process.on('disconnect', () => leave(0));

// Something the service started outside its task's promise threw: this process cannot be trusted
// to go on. The worker fails the task under way with code `crashed` and starts a fresh process.
let dying = false;
process.on('uncaughtException', (err) => {
  if (dying) return;
  dying = true;
  process.stderr.write(`errand: uncaught exception in the Node service ${entryPath}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  setTimeout(() => leave(1), 1000).unref();
  send({ type: 'fatal', message: errorMessage(err) }, () => leave(1));
});

let current: { run: number; controller: AbortController } | undefined;

async function execute(run: NodeServiceRun, task: Extract<ToChild, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  current = { run: task.run, controller };
  const live = (): boolean => current?.run === task.run;
  const files: FileMessage[] = [];
  let cacheable = true;
  const ctx: NodeServiceContext = {
    taskId: task.taskId,
    service: task.service,
    signal: controller.signal,
    progress(data) {
      if (live()) send({ type: 'progress', run: task.run, data: JSON.stringify(data) ?? 'null' });
    },
    saveFile(name, content, contentType) {
      if (!live()) return;
      files.push({ name, contentType, content: content instanceof Uint8Array ? content : Buffer.from(content) });
    },
    noCache() {
      cacheable = false;
    },
  };
  let reply: FromChild;
  try {
    const index = await run(task.input, ctx);
    try {
      reply = { type: 'done', run: task.run, index: JSON.stringify(index) ?? 'null', files, cacheable };
    } catch (err) {
      reply = { type: 'failed', run: task.run, code: 'invalid_result', message: `the result is not JSON: ${errorMessage(err)}` };
    }
  } catch (err) {
    reply = { type: 'failed', run: task.run, code: errorCode(err), message: errorMessage(err) };
  }
  current = undefined;
  send(reply);
}

const run = await loadNodeService(entryPath).catch((err: unknown) => {
  send({ type: 'load_failed', message: errorMessage(err) }, () => leave(1));
  return undefined;
});
if (run) {
  process.on('message', (message: ToChild) => {
    if (message.type === 'run') void execute(run, message);
    else if (message.type === 'abort' && current?.run === message.run) current.controller.abort(message.reason);
  });
  send({ type: 'ready', pid: process.pid });
}
