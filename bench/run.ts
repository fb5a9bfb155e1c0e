/**
 * `npm run bench`: Errand and every peer (bench-peers/, see peers.ts) on the same load, one after
 * the other in one invocation and alternating over the runs (Errand, peer, Errand, peer, ...), so
 * that the machine's mood falls on both. Per run it prints each system's result; at the end, the
 * median (min-max) of each measure per system, the CPU split per process, and the ratios.
 * With --history N, Errand also runs against a database holding N finished tasks (history.ts), and
 * times filtered first pages of the task list there (task-list.ts).
 * Options and method: `npm run bench -- --help`, docs/benchmarks.md.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { promisify, parseArgs } from 'node:util';
import { amqpUrlOf, databaseUrlOf, dropDatabase, measureErrand, migrateWithKey, resetVhost } from './errand.ts';
import type { ErrandTarget, Load, RMeasures } from './errand.ts';
import { historySpan, prepareHistory } from './history.ts';
import type { History } from './history.ts';
import { CHECKOUT, defaultPeersFolder, findPeers, measurePeer, preparePeer } from './peers.ts';
import { rLine, rTable, runLine, summariseR, summaryTables } from './report.ts';
import type { RSummary } from './report.ts';
import { ratio, spread, summarise } from './stats.ts';
import { listFilters, measureTaskList, taskListLine } from './task-list.ts';
import type { TaskListMeasure } from './task-list.ts';
import type { Ratio, RunResult, SystemSummary } from './stats.ts';

const HELP = `npm run bench -- [options]
  --tasks N               10000  tasks of the throughput run, submitted by --clients
  --clients C             64     concurrent HTTP clients
  --latency-tasks M       500    sequential tasks, POST to terminal WebSocket message
  --worker-concurrency K  64     Errand's worker concurrency (and the peers')
  --runs R                3      rounds; each round runs every system once, in turn
  --peers DIR             ../shared/bench-peers beside the repository (the main checkout's, from a worktree)
  --no-peers                     Errand alone (and the floor, unless --no-floor)
  --no-floor                     leave out the floor: Errand's guarantees from the raw clients, no Errand code (bench/floor/)
  --split-recorder               run Errand's recorder as a process of its own (serve --no-recorder + recorder), not inside serve
  --history N                    also run Errand against a database holding N finished tasks and their events
  --no-empty                     with --history: skip the runs on an empty database
  --history-batch B       100000 tasks per transaction of the fill
  --refill-history               fill again even when the kept history database matches
  --list-requests L       200    with --history: filtered first pages of GET /tasks timed per run (0: none)
  --r / --no-r                   the R measures (default: on only when Errand runs alone, without --history)
  --r-tasks T             500    R tasks per R measure
  --json FILE                    also write the summary (and every run) as JSON
  --name NAME             errand_bench  database and vhost of the empty runs; NAME_history holds the history`;

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '64' },
    'latency-tasks': { type: 'string', default: '500' },
    'worker-concurrency': { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    peers: { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    'no-floor': { type: 'boolean', default: false },
    'split-recorder': { type: 'boolean', default: false },
    history: { type: 'string' },
    'no-empty': { type: 'boolean', default: false },
    'history-batch': { type: 'string', default: '100000' },
    'refill-history': { type: 'boolean', default: false },
    'list-requests': { type: 'string', default: '200' },
    r: { type: 'boolean', default: false },
    'no-r': { type: 'boolean', default: false },
    'r-tasks': { type: 'string', default: '500' },
    json: { type: 'string' },
    name: { type: 'string', default: 'errand_bench' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

function count(option: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${option} must be an integer of at least ${min}, got ${JSON.stringify(text)}\n${HELP}`);
  return n;
}
const load: Load = {
  tasks: count('tasks', values.tasks), clients: count('clients', values.clients),
  latencyTasks: count('latency-tasks', values['latency-tasks']), workerConcurrency: count('worker-concurrency', values['worker-concurrency']),
  splitRecorder: values['split-recorder'],
};
const RUNS = count('runs', values.runs);
const HISTORY = values.history === undefined ? undefined : count('history', values.history);
const R_TASKS = count('r-tasks', values['r-tasks']);
const LIST_REQUESTS = count('list-requests', values['list-requests'], 0);
if (values.r && values['no-r']) throw new Error('--r and --no-r: choose one');
if (values['no-empty'] && HISTORY === undefined) throw new Error('--no-empty needs --history N');
if (!/^[a-z_][a-z0-9_]*$/.test(values.name)) throw new Error(`--name must be a lower-case SQL identifier, got ${JSON.stringify(values.name)}`);
const NAME = values.name;

/** One system of the comparison: how to make it ready once, and how to run it once. */
interface System { name: string; run(round: number): Promise<{ result: RunResult; more?: string }> }

const notes: string[] = [];
const note = (line: string) => { notes.push(line); console.log(line); };

async function peerSystems(): Promise<System[]> {
  if (values['no-peers']) { note('peers: none (--no-peers), Errand alone'); return []; }
  const folder = values.peers ?? (await defaultPeersFolder());
  const peers = await findPeers(folder);
  if (peers.length === 0) { note(`peers: none found in ${folder} (no folder with a bench.mjs), Errand alone; --peers DIR names another folder`); return []; }
  note(`peers from ${folder}: ${peers.map((p) => p.name).join(', ')}`);
  const systems: System[] = [];
  for (const peer of peers) {
    const copy = await preparePeer(peer, console.log);
    systems.push({ name: peer.name, run: async () => ({ result: await measurePeer(peer.name, copy, load) }) });
  }
  return systems;
}

/**
 * The floor (bench/floor/): what any system keeping Errand's guarantees must do, from the raw
 * clients with no Errand code, driven like a peer. Errand against it shows what Errand's own code
 * costs; the floor against a peer shows what the guarantees cost.
 */
function floorSystems(): System[] {
  if (values['no-floor']) { note('floor: left out (--no-floor)'); return []; }
  const folder = join(CHECKOUT, 'bench', 'floor');
  return [{ name: 'floor', run: async () => ({ result: await measurePeer('floor', folder, load) }) }];
}

const rResults: RMeasures[] = [];
const listResults: TaskListMeasure[] = [];
const rNodeP50: number[] = [];

/**
 * Errand on `target`; `resetDatabase` makes the database afresh before each run (the empty runs),
 * else it is kept. With `history`, each run also times the task list there.
 */
function errandSystem(name: string, vhost: string, target: () => Promise<ErrandTarget>, withR: boolean, history?: History): System {
  return {
    name,
    async run(round) {
      await resetVhost(vhost);
      const to = await target();
      let list: TaskListMeasure | undefined;
      const span = history && historySpan(history);
      const after = span && LIST_REQUESTS > 0
        ? async (base: string) => { list = await measureTaskList(base, to, listFilters(span.start, span.end), LIST_REQUESTS); }
        : undefined;
      const { result, r } = await measureErrand(to, load, withR ? R_TASKS : undefined, after);
      const more: string[] = [];
      if (list) {
        listResults.push(list);
        more.push(taskListLine(round, RUNS, list));
      }
      if (r) {
        rResults.push(r);
        rNodeP50.push(result.p50);
        more.push(rLine(round, RUNS, r));
      }
      return more.length > 0 ? { result, more: more.join('\n') } : { result };
    },
  };
}

async function main(): Promise<void> {
  console.log(`errand bench: ${load.tasks} tasks, ${load.clients} clients, ${load.latencyTasks} latency tasks, worker concurrency ${load.workerConcurrency}, recorder ${load.splitRecorder ? 'in a process of its own' : 'inside serve'}, ${RUNS} run${RUNS === 1 ? '' : 's'}${HISTORY ? `, history ${HISTORY}` : ''}; ${cpus().length} cores, node ${process.version}, checkout ${CHECKOUT}`);
  const peers = await peerSystems();
  const floors = floorSystems();
  const withR = values.r || (!values['no-r'] && peers.length === 0 && HISTORY === undefined);
  if (!withR && !values['no-r']) note('R measures: off (default when peers or history are compared; --r turns them on)');
  const errands: System[] = [];
  if (!values['no-empty']) {
    errands.push(errandSystem('errand', NAME, async () => {
      await dropDatabase(NAME);
      const databaseUrl = databaseUrlOf(NAME);
      return { databaseUrl, amqpUrl: amqpUrlOf(NAME), apiKey: await migrateWithKey(databaseUrl) };
    }, withR));
  }
  let history: History | undefined;
  if (HISTORY !== undefined) {
    const name = `${NAME}_history`;
    history = await prepareHistory(name, HISTORY, { batch: count('history-batch', values['history-batch']), refill: values['refill-history'], log: note });
    const target = { databaseUrl: databaseUrlOf(name), amqpUrl: amqpUrlOf(NAME), apiKey: history.apiKey };
    errands.push(errandSystem('errand-history', NAME, async () => target, withR && errands.length === 0, history));
  }
  const systems = [...errands, ...floors, ...peers];
  const results = new Map<string, RunResult[]>(systems.map((s) => [s.name, []]));
  for (let round = 1; round <= RUNS; round++) {
    for (const system of systems) {
      const { result, more } = await system.run(round);
      results.get(system.name)!.push(result);
      console.log(runLine(round, RUNS, system.name, result));
      if (more) console.log(more);
    }
  }
  const summaries = systems.map((s) => summarise(s.name, results.get(s.name)!));
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const ratios: Ratio[] = [];
  for (const e of errands) for (const p of [...floors, ...peers]) ratios.push(ratio(byName.get(e.name)!, byName.get(p.name)!));
  for (const f of floors) for (const p of peers) ratios.push(ratio(byName.get(f.name)!, byName.get(p.name)!));
  if (byName.has('errand') && byName.has('errand-history')) ratios.push(ratio(byName.get('errand-history')!, byName.get('errand')!));
  console.log(`\n${summaryTables(summaries, ratios)}`);
  // Each round ran both systems back to back: its own ratio shows whether the medians' holds round by round.
  for (const r of ratios) {
    const [a, b] = [results.get(r.subject)!, results.get(r.reference)!];
    console.log(`throughput ${r.subject} / ${r.reference} round by round: ${a.map((x, i) => (x.tasksPerSecond / b[i]!.tasksPerSecond).toFixed(2)).join(', ')}`);
  }
  const list = listSummary();
  if (list) console.log(`\ntask list on ${HISTORY} tasks of history: ${list.requestsPerRun} filtered first pages per run, p95 ${list.p95.median.toFixed(2)} ms (runs: ${list.p95.min.toFixed(2)}-${list.p95.max.toFixed(2)}), p99 ${list.p99.median.toFixed(2)} ms; target: p95 under 20 ms on 10 million`);
  const r = rResults.length > 0 ? summariseR(rResults, rNodeP50) : undefined;
  if (r) console.log(`\n${rTable(r)}`);
  if (values.json) {
    await writeFile(values.json, JSON.stringify(await jsonSummary(summaries, ratios, results, history, r, list), sixDigits, 2) + '\n');
    console.log(`\nsummary written to ${values.json}`);
  }
}

/** The task list's figures over the runs: the median run's p95 and p99, and every run. */
function listSummary() {
  if (listResults.length === 0) return undefined;
  return {
    requestsPerRun: LIST_REQUESTS,
    p95: spread(listResults.map((m) => m.p95)),
    p99: spread(listResults.map((m) => m.p99)),
    runs: listResults,
  };
}

const run = promisify(execFile);
/** Measures in JSON to six significant digits: more would be noise. */
const sixDigits = (_key: string, value: unknown) => (typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value);

async function jsonSummary(systems: SystemSummary[], ratios: Ratio[], runs: Map<string, RunResult[]>, history: History | undefined, r: RSummary | undefined, taskList: ReturnType<typeof listSummary>) {
  const git = (...args: string[]) => run('git', ['-C', CHECKOUT, ...args]).then(({ stdout }) => stdout.trim(), () => '');
  return {
    at: new Date().toISOString(),
    commit: await git('rev-parse', 'HEAD'),
    uncommittedChanges: (await git('status', '--porcelain', '--untracked-files=no')) !== '',
    machine: { cores: cpus().length, node: process.version },
    load: { ...load, runs: RUNS },
    history: history ? { tasks: history.tasks, eventsPerTask: 3, fillSeconds: history.fillSeconds, settleSeconds: history.settleSeconds, filledAt: history.filledAt, keptFromEarlierInvocation: history.reused } : null,
    notes,
    systems,
    ratios,
    r: r ?? null,
    taskList: taskList ?? null,
    runs: Object.fromEntries(runs),
  };
}

await main();
