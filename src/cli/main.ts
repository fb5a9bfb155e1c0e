/** The `errand` command: picks the subcommand; failures print one line, not a stack trace. */
import { ErrandApiError, ErrandConnectionError } from '../client/index.ts';
import { isErrandError } from '../core/index.ts';
import { CLIENT_USAGE, isClientCommand, runClientCommand, UsageError } from './client/commands.ts';
import { processTerminal } from './client/terminal.ts';
import { readConfig, USAGE } from './config.ts';
import type { Config } from './config.ts';
import { dev } from './dev.ts';
import { keys } from './keys.ts';
import { migrate } from './migrate.ts';
import { recorder } from './recorder.ts';
import { serve } from './serve.ts';
import { worker } from './worker.ts';

/** Each command gets the config and the words after its name (only `keys` has any). */
const COMMANDS: Record<string, (config: Config, rest: string[]) => Promise<void>> = {
  dev: (config) => dev(config),
  serve: (config) => serve(config),
  worker: (config) => worker(config),
  recorder: (config) => recorder(config),
  migrate: (config) => migrate(config),
  keys: (config, rest) => keys(config, rest),
};

async function main(): Promise<void> {
  // The commands that call a running Errand take their own options (--url, --key, --json).
  const [first, ...others] = process.argv.slice(2);
  if (isClientCommand(first)) {
    const status = await runClientCommand(first, others, process.env, processTerminal());
    // Exit once stdout is flushed (a piped result may be large), not when idle keep-alive sockets close.
    process.stdout.write('', () => process.exit(status));
    return;
  }
  const { command, config, help, rest } = readConfig(process.argv.slice(2), process.env);
  if (help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n${CLIENT_USAGE}`);
    return;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) throw new Error(`unknown command ${JSON.stringify(command)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  await run(config, rest);
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`errand: ${err.message}\n\n${CLIENT_USAGE}`);
    process.exit(2);
  }
  // What the server refused, with its code and the field it named; or what could not reach it.
  if (err instanceof ErrandApiError) {
    process.stderr.write(`errand: ${err.code}: ${err.message}${err.field ? ` (field ${err.field})` : ''}\n`);
    process.exit(1);
  }
  if (err instanceof ErrandConnectionError) {
    process.stderr.write(`errand: ${err.message}\n`);
    process.exit(1);
  }
  const message = isErrandError(err) ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`errand: ${message}\n`);
  if (!isErrandError(err) && process.env.ERRAND_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
