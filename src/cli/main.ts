/** The `errand` command: picks the subcommand; failures print one line, not a stack trace. */
import { isErrandError } from '../core/index.ts';
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
  const { command, config, help, rest } = readConfig(process.argv.slice(2), process.env);
  if (help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) throw new Error(`unknown command ${JSON.stringify(command)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  await run(config, rest);
}

main().catch((err: unknown) => {
  const message = isErrandError(err) ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`errand: ${message}\n`);
  if (!isErrandError(err) && process.env.ERRAND_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
