/**
 * The R runtime's tests need R with jsonlite. Outside CI, without them, those suites skip with one
 * line saying how to install R; with CI=true they run (and fail).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe } from 'node:test';

const run = promisify(execFile);

export const R_INSTALL_HINT = 'R is not installed: apt-get install -y r-base-core r-cran-jsonlite to run the R tests';

const checked = new Map<string, Promise<string | undefined>>();

/** Why R (with these packages) cannot run here, or undefined when it can. */
export function rUnavailable(packages: string[] = ['jsonlite']): Promise<string | undefined> {
  const key = packages.join(',');
  if (!checked.has(key)) {
    const hint = key === 'jsonlite' ? R_INSTALL_HINT : `R with ${packages.join(' and ')} is not installed: apt-get install -y r-base-core ${packages.map((p) => `r-cran-${p}`).join(' ')}`;
    checked.set(key, run('Rscript', ['--vanilla', '-e', packages.map((p) => `library(${p})`).join(';')]).then(() => undefined, () => hint));
  }
  return checked.get(key)!;
}

/** describe() for suites that need R: skipped with the hint outside CI, failing in CI. */
export async function describeWithR(title: string, body: () => void, packages?: string[]): Promise<void> {
  const reason = await rUnavailable(packages);
  const skip = reason !== undefined && process.env.CI !== 'true' ? reason : false;
  describe(title, { skip }, () => {
    if (reason !== undefined && process.env.CI === 'true') throw new Error(`R is required in CI: ${reason}`);
    body();
  });
}
