/**
 * The commands for people and scripts that call a running Errand: submit, tasks, task, watch,
 * cancel, results, services. They use the typed client (`errand/client`) and nothing of the
 * server. `--json` prints machine-readable answers; errors print one line with Errand's code.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { createClient, JsonText, TERMINAL_STATUSES } from '../../client/index.ts';
import type { ErrandClient, TaskDescription, TaskFilter, TaskStatus } from '../../client/index.ts';
import { follow } from './follow.ts';
import { serviceRows, taskDetails, taskErrorText, taskRows } from './format.ts';
import { printableText } from './printable.ts';
import { saveResults } from './results.ts';
import type { Terminal } from './terminal.ts';

export const CLIENT_COMMANDS = ['submit', 'tasks', 'task', 'watch', 'cancel', 'results', 'services'] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

export const CLIENT_USAGE = `Calling a running Errand (--url, default http://127.0.0.1:3000; --key or ERRAND_KEY):
  submit SERVICE [INPUT.json | -] [--follow] [--out DIR] [--ttl D] [--deadline D] [--no-cache]
             submits a task (input from a file, - for stdin, {} when left out); with --follow shows
             its progress and prints its result, Ctrl-C asks whether to cancel it
  tasks      [--service S] [--status X ...] [--owner P] [--created-since T] [--created-until T]
             [--completed-since T] [--completed-until T] [--error-code C] [--limit N]: the latest tasks
  task ID    one task        watch ID [--out DIR]   follows a task to its end and prints its result
  cancel ID  cancels a task  results ID [--out DIR] its result (--out saves it and its files)
  services   the services workers run
  --json     machine-readable output (with --follow: one JSON line per event)
`;

/** A wrong command line: exit status 2, with the usage. */
export class UsageError extends Error {}

const COMMON: NonNullable<ParseArgsConfig['options']> = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

const OPTIONS: Record<ClientCommand, NonNullable<ParseArgsConfig['options']>> = {
  submit: { follow: { type: 'boolean', short: 'f', default: false }, out: { type: 'string' }, ttl: { type: 'string' }, deadline: { type: 'string' }, 'no-cache': { type: 'boolean', default: false } },
  tasks: {
    service: { type: 'string' }, status: { type: 'string', multiple: true }, owner: { type: 'string' },
    'created-since': { type: 'string' }, 'created-until': { type: 'string' }, 'completed-since': { type: 'string' }, 'completed-until': { type: 'string' },
    'error-code': { type: 'string' }, limit: { type: 'string' },
  },
  task: {},
  watch: { out: { type: 'string' } },
  cancel: {},
  results: { out: { type: 'string' } },
  services: {},
};

const POSITIONALS: Record<ClientCommand, [min: number, max: number, names: string]> = {
  submit: [1, 2, 'SERVICE [INPUT.json | -]'],
  tasks: [0, 0, ''],
  task: [1, 1, 'ID'],
  watch: [1, 1, 'ID'],
  cancel: [1, 1, 'ID'],
  results: [1, 1, 'ID'],
  services: [0, 0, ''],
};

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export function isClientCommand(command: string | undefined): command is ClientCommand {
  return (CLIENT_COMMANDS as readonly string[]).includes(command ?? '');
}

interface Parsed { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }

export function parseClientArgs(command: ClientCommand, args: string[]): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON, ...OPTIONS[command] }, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
  const [min, max, names] = POSITIONALS[command];
  if (!parsed.values.help && (parsed.positionals.length < min || parsed.positionals.length > max)) {
    throw new UsageError(`${command} takes ${names || 'no arguments'}${parsed.positionals.length > max ? `; unexpected ${JSON.stringify(parsed.positionals[max])}` : ''}`);
  }
  return parsed;
}

/** The filters of `errand tasks` as GET /tasks takes them. */
export function taskFilter(values: Parsed['values']): TaskFilter & { limit: number } {
  const limitText = (values.limit as string | undefined) ?? '20';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number from 1, got ${JSON.stringify(limitText)}`);
  const text = (name: string) => values[name] as string | undefined;
  const filter: TaskFilter & { limit: number } = { limit };
  if (text('service')) filter.service = text('service')!;
  if (values.status) filter.status = values.status as TaskStatus[];
  if (text('owner')) filter.owner = text('owner')!;
  if (text('created-since')) filter.createdSince = text('created-since')!;
  if (text('created-until')) filter.createdUntil = text('created-until')!;
  if (text('completed-since')) filter.completedSince = text('completed-since')!;
  if (text('completed-until')) filter.completedUntil = text('completed-until')!;
  if (text('error-code')) filter.errorCode = text('error-code')!;
  return filter;
}

/** The input's text, checked to be JSON (sent as written: its number spelling kept). */
export async function readInput(source: string | undefined, stdin: () => Promise<string>): Promise<JsonText> {
  if (source === undefined) return new JsonText('{}');
  let text: string;
  try {
    text = source === '-' ? await stdin() : await readFile(source, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the input ${source === '-' ? 'from stdin' : JSON.stringify(source)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the input ${source === '-' ? 'on stdin' : JSON.stringify(source)} is not JSON: ${(err as Error).message}`);
  }
  return new JsonText(text);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Prints the result (or saves it with --out); the exit status says how the task ended. */
async function finish(client: ErrandClient, task: TaskDescription, term: Terminal, out: string | undefined, json: boolean): Promise<number> {
  if (task.status !== 'done') {
    if (json) term.out.write(`${JSON.stringify(task)}\n`);
    term.err.write(`${taskErrorText(task)}\n`);
    return 1;
  }
  if (json) return 0; // the events were the output
  if (out) {
    const skipped: string[] = [];
    const saved = await saveResults(client, task.id, out, skipped);
    for (const path of saved) term.err.write(`saved ${path}\n`);
    for (const name of skipped) term.err.write(`not saved: the result links a file named ${name}, which would replace the result itself\n`);
  } else {
    // As written when piped or redirected; on a terminal, never able to drive it.
    const written = await client.resultsText(task.id);
    const text = term.outInteractive ? printableText(written) : written;
    term.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  return 0;
}

/** Runs one client command; answers the exit status. */
export async function runClientCommand(command: ClientCommand, args: string[], env: NodeJS.ProcessEnv, term: Terminal): Promise<number> {
  const { values, positionals } = parseClientArgs(command, args);
  if (values.help) {
    term.out.write(CLIENT_USAGE);
    return 0;
  }
  const url = (values.url as string | undefined) ?? env.ERRAND_URL ?? DEFAULT_URL;
  const key = (values.key as string | undefined) ?? env.ERRAND_KEY;
  const client = createClient({ url, ...(key ? { key } : {}), clientName: 'errand-cli' });
  const json = values.json === true;
  const print = (value: unknown, human: () => string) => term.out.write(`${json ? JSON.stringify(value) : human()}\n`);
  const id = positionals[0]!;

  switch (command) {
    case 'submit': {
      const input = await readInput(positionals[1], readStdin);
      const task = await client.submit(positionals[0]!, input, {
        ...(values.ttl ? { ttl: values.ttl as string } : {}),
        ...(values.deadline ? { deadline: values.deadline as string } : {}),
        ...(values['no-cache'] ? { cache: false } : {}),
      });
      if (!values.follow) {
        print(task, () => `${task.id} ${task.status}${task.cache?.status === 'hit' ? ' (cached result)' : ''}\n${task._links.self.href}`);
        return 0;
      }
      if (!json) term.err.write(`task ${task.id} (${task.service}) ${task.status}\n`);
      return followAndFinish(client, task, term, values.out as string | undefined, json);
    }
    case 'watch':
      return followAndFinish(client, await client.get(id), term, values.out as string | undefined, json);
    case 'tasks': {
      const { limit, ...filter } = taskFilter(values);
      const tasks: TaskDescription[] = [];
      for await (const task of client.list({ ...filter, limit: Math.min(limit, 500) })) {
        tasks.push(task);
        if (tasks.length >= limit) break;
      }
      print(tasks, () => (tasks.length === 0 ? 'no tasks' : taskRows(tasks)));
      return 0;
    }
    case 'task': {
      const task = await client.get(id);
      print(task, () => taskDetails(task));
      return 0;
    }
    case 'cancel': {
      const task = await client.cancel(id);
      print(task, () => `${task.id} ${task.status}`);
      return 0;
    }
    case 'results': {
      const task = await client.get(id);
      if (!TERMINAL_STATUSES.has(task.status)) {
        term.err.write(`task ${id} has not ended (${task.status}): \`errand watch ${id}\` waits for it\n`);
        return 1;
      }
      return finish(client, task, term, values.out as string | undefined, false);
    }
    case 'services': {
      const services = await client.services();
      print(services, () => (services.length === 0 ? 'no services' : serviceRows(services)));
      return 0;
    }
  }
}

async function followAndFinish(client: ErrandClient, task: TaskDescription, term: Terminal, out: string | undefined, json: boolean): Promise<number> {
  const outcome = await follow(client, task.id, term, { json });
  if (!outcome.task) return 130;
  const status = await finish(client, outcome.task, term, out, json);
  return outcome.interrupted ? 130 : status;
}
