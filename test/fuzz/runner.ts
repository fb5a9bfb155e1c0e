/**
 * Runs fuzz cases against a target one at a time and keeps the verdicts: each failure with its
 * issue item and raw request, the tasks the server accepted (every one must end), and a good
 * request after every 100 cases to show the server still serves.
 */
import type { FuzzCase } from './oracle.ts';
import { exchangeProblem, tailProblem } from './oracle.ts';
import type { Exchange, RawResponse } from './raw-client.ts';
import { exchange, preview } from './raw-client.ts';
import type { FuzzTarget } from './target.ts';

export interface Failure { item: string; name: string; problem: string; request: string }

export const TERMINAL = new Set(['done', 'failed', 'canceled', 'expired']);

export class Runner {
  readonly failures: Failure[] = [];
  cases = 0;
  /** Task ids the server answered 201 for, with the ttl asked (a short one may remove the task before the end). */
  readonly accepted = new Map<string, string | undefined>();
  readonly deleted = new Set<string>();
  private tails: Promise<void>[] = [];
  private sinceCheck = 0;

  constructor(readonly target: FuzzTarget) {}

  fail(item: string, name: string, problem: string, request: Buffer | string = ''): void {
    this.failures.push({ item, name, problem, request: typeof request === 'string' ? request : preview(request, 400) });
  }

  failuresOf(item: string): Failure[] {
    return this.failures.filter((f) => f.item === item);
  }

  /** One case: its answer is judged at once, its connection's end (leaks, later answers) at the next settle. */
  async run(c: FuzzCase): Promise<Exchange> {
    this.cases++;
    const result = await exchange({
      host: this.target.host, port: this.target.port, request: c.request, method: c.method,
      ...(c.trickle ? { trickle: c.trickle } : {}), ...(c.halfClose ? { halfClose: true } : {}),
      patienceMs: c.patienceMs ?? 10_000, releasePatienceMs: 5_000,
    });
    const problem = exchangeProblem(c, result);
    if (problem) this.fail(c.item, c.name, problem, c.request);
    if (result.answer) this.note(c, result.answer);
    this.tails.push(result.tail.then((tail) => {
      const later = tailProblem(c, tail);
      if (later) this.fail(c.item, c.name, later, c.request);
    }));
    return result;
  }

  /** Runs cases in order, with the server's health checked after every 100 cases run in all. */
  async runAll(cases: readonly FuzzCase[]): Promise<void> {
    for (const c of cases) {
      await this.run(c);
      if (++this.sinceCheck >= 100) {
        this.sinceCheck = 0;
        await this.settle();
        await this.goodRequests(`after case ${this.cases} (${c.item}: ${c.name})`);
      }
    }
    await this.settle();
  }

  /** Waits until every connection so far is gone (or was found leaked). */
  async settle(): Promise<void> {
    const tails = this.tails;
    this.tails = [];
    await Promise.all(tails);
  }

  /** The server still serves: GET /services, and a POST /task that completes. */
  async goodRequests(when: string): Promise<boolean> {
    const { baseUrl, apiKey } = this.target;
    try {
      const services = await fetch(`${baseUrl}/services`, { headers: { 'x-api-key': apiKey }, signal: AbortSignal.timeout(10_000) });
      if (services.status !== 200) throw new Error(`GET /services answered ${services.status}`);
      await services.json();
      const id = await submit(this.target, 'echo', { probe: this.cases });
      const task = await waitTerminal(this.target, id);
      if (task.status !== 'done') throw new Error(`the probe task ended ${task.status}: ${JSON.stringify(task.error)}`);
      return true;
    } catch (err) {
      this.fail('health', `good requests ${when}`, (err as Error).message);
      return false;
    }
  }

  private note(c: FuzzCase, answer: RawResponse): void {
    if (answer.status === 201) {
      try {
        const id = (JSON.parse(answer.body.toString('utf8')) as { id?: unknown }).id;
        if (typeof id === 'string') this.accepted.set(id, ttlOf(c.request));
        else this.fail(c.item, c.name, `a 201 without an id: ${preview(answer.body)}`, c.request);
      } catch {
        this.fail(c.item, c.name, `a 201 whose body is not JSON: ${preview(answer.body)}`, c.request);
      }
    }
    if (c.method === 'DELETE' && answer.status === 200) {
      const id = /^DELETE \/task\/([0-9a-f]{16})[ ?]/.exec(c.request.toString('latin1'))?.[1];
      if (id) this.deleted.add(id);
    }
  }
}

function ttlOf(request: Buffer): string | undefined {
  const target = request.toString('latin1').split(' ')[1] ?? '';
  try {
    return new URL(target, 'http://x').searchParams.get('ttl') ?? undefined;
  } catch {
    return undefined;
  }
}

export interface TaskView { id: string; status: string; error?: { code: string; message: string }; expiresAt?: string; [key: string]: unknown }

export async function submit(target: FuzzTarget, service: string, input: unknown, query = ''): Promise<string> {
  const response = await fetch(`${target.baseUrl}/task?service=${service}${query}`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': target.apiKey }, body: JSON.stringify(input), signal: AbortSignal.timeout(15_000),
  });
  const body = (await response.json()) as { id?: string };
  if (response.status !== 201 || !body.id) throw new Error(`POST /task?service=${service} answered ${response.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** Polls the task until it has ended; gives up after `patienceMs`. */
export async function waitTerminal(target: FuzzTarget, id: string, patienceMs = 30_000): Promise<TaskView> {
  const giveUp = Date.now() + patienceMs;
  let last: TaskView | undefined;
  for (;;) {
    const response = await fetch(`${target.baseUrl}/task/${id}`, { headers: { 'x-api-key': target.apiKey }, signal: AbortSignal.timeout(10_000) });
    if (response.status === 200) {
      last = (await response.json()) as TaskView;
      if (TERMINAL.has(last.status)) return last;
    } else {
      await response.body?.cancel();
    }
    if (Date.now() > giveUp) throw new Error(`task ${id} did not end within ${patienceMs} ms (last: ${last ? last.status : 'no answer'})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function describeFailures(failures: readonly Failure[], max = 40): string {
  const lines = failures.slice(0, max).map((f) => `  [item ${f.item}] ${f.name}: ${f.problem}${f.request ? `\n      request: ${f.request}` : ''}`);
  if (failures.length > max) lines.push(`  … and ${failures.length - max} more`);
  return lines.join('\n');
}
