/** The `errand` command: picks the subcommand; failures print one line, not a stack trace. */
import { isErrandError } from '../core/index.ts';
import { readConfig, USAGE } from './config.ts';
import { dev } from './dev.ts';
import { migrate } from './migrate.ts';
import { recorder } from './recorder.ts';
import { serve } from './serve.ts';
import { worker } from './worker.ts';

const COMMANDS = { dev, serve, worker, recorder, migrate } as const;

async function main(): Promise<void> {
  const { command, config, help } = readConfig(process.argv.slice(2), process.env);
  if (help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const run = COMMANDS[command as keyof typeof COMMANDS];
  if (!run) throw new Error(`unknown command ${JSON.stringify(command)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  await run(config);
}

main().catch((err: unknown) => {
  const message = isErrandError(err) ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`errand: ${message}\n`);
  if (!isErrandError(err) && process.env.ERRAND_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
