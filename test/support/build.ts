/**
 * The roles run from dist/, as in production. `npm test` builds first; a test file run on its own
 * builds here, once per process, when src/ has changed since the last build.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build.js', import.meta.url));

let built = false;

export function ensureBuilt(): void {
  if (built) return;
  // tsc's messages go to stderr: a test process's stdout belongs to the test runner.
  execFileSync(process.execPath, [BUILD_SCRIPT, '--if-stale'], { stdio: ['ignore', 2, 2] });
  built = true;
}
