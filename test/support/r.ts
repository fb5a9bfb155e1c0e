/**
 * The R runtime's tests need R with jsonlite. Outside CI, without them, those suites skip with one
 * line saying how to install R; with CI=true they run (and fail).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe } from 'node:test';

const run = promisify(execFile);

export const R_INSTALL_HINT = 'R is not installed: apt-get install -y r-base-core r-cran-jsonlite to run the R tests';

let checked: Promise<string | undefined> | undefined;

/** Why R cannot run here, or undefined when it can. */
export function rUnavailable(): Promise<string | undefined> {
  checked ??= run('Rscript', ['--vanilla', '-e', 'library(jsonlite)']).then(() => undefined, () => R_INSTALL_HINT);
  return checked;
}

/** describe() for suites that need R: skipped with the hint outside CI, failing in CI. */
export async function describeWithR(title: string, body: () => void): Promise<void> {
  const reason = await rUnavailable();
  const skip = reason !== undefined && process.env.CI !== 'true' ? reason : false;
  describe(title, { skip }, () => {
    if (reason !== undefined && process.env.CI === 'true') throw new Error(`R is required in CI: ${reason}`);
    body();
  });
}
