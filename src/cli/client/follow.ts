/**
 * Following a task to its end for a person: the progress line redrawn as events arrive (or a line
 * per event when stderr is not a terminal), and Ctrl-C asking whether to cancel the task rather
 * than leaving it running unnoticed. `--json` prints each event as a JSON line instead.
 */
import { isErrandApiError } from '../../client/index.ts';
import type { ErrandClient, TaskDescription, TaskEvent } from '../../client/index.ts';
import { progressMessage, renderProgressLine, shortDuration } from './progress-line.ts';
import type { ProgressState } from './progress-line.ts';
import { printableLine, printableText } from './printable.ts';
import type { Terminal } from './terminal.ts';

export interface FollowOutcome {
  /** The task as it ended; undefined when the user left it running. */
  task?: TaskDescription;
  /** The user pressed Ctrl-C: and canceled the task, or left it running. */
  interrupted: boolean;
}

const CLEAR_LINE = '\r\x1b[2K';

/** The state the progress line shows, after one more event. */
export function nextState(state: ProgressState, event: TaskEvent): ProgressState {
  const data = event.data as { percent?: unknown; etaSeconds?: unknown; value?: unknown; attempt?: unknown };
  switch (event.type) {
    case 'queued':
      return { ...state, status: 'queued' };
    case 'started':
      return { ...state, status: 'running' };
    case 'console':
      return state;
    case 'retried':
      return { status: 'running', elapsedSeconds: state.elapsedSeconds, message: `its worker was lost: attempt ${String(data.attempt ?? '?')}` };
    case 'progress': {
      const message = progressMessage(data.value);
      return {
        status: 'running',
        elapsedSeconds: state.elapsedSeconds,
        ...(typeof data.percent === 'number' ? { percent: data.percent } : state.percent !== undefined ? { percent: state.percent } : {}),
        ...(typeof data.etaSeconds === 'number' ? { etaSeconds: data.etaSeconds } : {}),
        ...(message !== undefined ? { message } : state.message !== undefined ? { message: state.message } : {}),
      };
    }
    default:
      return { ...state, status: event.type, ...(event.type === 'done' ? { percent: 100, etaSeconds: 0 } : {}) };
  }
}

/** One line per event for a log (stderr not a terminal). */
export function eventLine(event: TaskEvent, state: ProgressState): string {
  if (event.type !== 'progress') return `${event.type}${event.type === 'started' ? ` (attempt ${String((event.data as { attempt?: unknown }).attempt ?? 1)})` : ''}`;
  const parts = ['progress'];
  if (state.percent !== undefined) parts.push(`${Math.round(state.percent)}%`);
  if (state.etaSeconds !== undefined) parts.push(`${shortDuration(state.etaSeconds)} left`);
  const line = parts.join(' ');
  return state.message ? `${line}: ${printableLine(state.message)}` : line;
}

export async function follow(client: ErrandClient, id: string, term: Terminal, options: { json?: boolean } = {}): Promise<FollowOutcome> {
  const controller = new AbortController();
  const begun = Date.now();
  let state: ProgressState = { status: 'queued', elapsedSeconds: 0 };
  let asking = false;
  let canceled = false;
  let left = false;
  const drawing = term.interactive && !options.json;
  const draw = () => {
    if (!drawing || asking) return;
    state = { ...state, elapsedSeconds: (Date.now() - begun) / 1000 };
    term.err.write(CLEAR_LINE + renderProgressLine(state, term.columns()));
  };
  const clear = () => drawing && term.err.write(CLEAR_LINE);
  const ticker = drawing ? setInterval(draw, 1000) : undefined;
  ticker?.unref();

  // The script's output scrolls above the progress line, which is drawn again below it; while the
  // question is on screen it waits.
  let held = '';
  const showHeld = () => {
    if (asking || held === '') return;
    const text = held;
    held = '';
    if (drawing) term.err.write(CLEAR_LINE + (text.endsWith('\n') ? text : `${text}\n`));
    else term.err.write(text);
    draw();
  };
  const leave = () => {
    left = true;
    controller.abort(new Error('left running'));
  };
  const stopInterrupts = term.onInterrupt(() => {
    if (asking) return leave();
    asking = true;
    clear();
    void term.ask(`Cancel task ${id}? [y/N] `).then(async (answer) => {
      if (answer === null) return leave();
      if (/^\s*y(es)?\s*$/i.test(answer)) {
        try {
          await client.cancel(id);
          canceled = true;
          term.err.write(`canceling task ${id}\n`);
        } catch (err) {
          // It ended meanwhile: the watch shows how.
          if (!isErrandApiError(err, 'task_ended')) term.err.write(`errand: could not cancel: ${(err as Error).message}\n`);
        }
      } else {
        term.err.write(`still watching task ${id} (Ctrl-C to ask again)\n`);
      }
      asking = false;
      showHeld();
      draw();
    });
  });

  try {
    for await (const event of client.watch(id, {
      signal: controller.signal,
      onReconnect: (err) => !options.json && term.err.write(`${drawing ? CLEAR_LINE : ''}connection lost (${(err as Error).message}); resuming\n`),
    })) {
      state = nextState(state, event);
      if (options.json) term.out.write(`${JSON.stringify(event)}\n`);
      else if (event.type === 'console') {
        held += printableText(String((event.data as { text?: unknown }).text ?? ''));
        showHeld();
      } else if (!drawing) term.err.write(`${eventLine(event, state)}\n`);
      else draw();
    }
  } catch (err) {
    if (!left) throw err;
  } finally {
    if (ticker) clearInterval(ticker);
    stopInterrupts();
    clear();
  }
  if (left) {
    term.err.write(`left task ${id} running; \`errand watch ${id}\` follows it again, \`errand cancel ${id}\` stops it\n`);
    return { interrupted: true };
  }
  return { task: await client.get(id), interrupted: canceled };
}
