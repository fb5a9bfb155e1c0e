/**
 * An R process that fails to start leaves nothing behind: no work folder (nor R's own session
 * folder) and no open file descriptor, whether the script does not load, R takes too long, or
 * there is no R to run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RLoadError, RProcess } from '../../src/worker/executors/r/r-process.ts';
import type { RProcessOptions } from '../../src/worker/executors/r/r-process.ts';
import { testLogger } from '../support/backends.ts';
import { describeWithR } from '../support/r.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/r/', import.meta.url));

const openFds = (): number => readdirSync('/proc/self/fd').length;

await describeWithR('R process start failures clean up', () => {
  // The processes' folders are made under TMPDIR: a private one shows exactly what is left.
  let scratch: string;
  let scripts: string;
  let savedTmpdir: string | undefined;
  before(async () => {
    scripts = await mkdtemp(join(tmpdir(), 'errand-r-cleanup-scripts-'));
    await writeFile(join(scripts, 'slow.R'), 'Sys.sleep(60)\nslow <- function(params) params\n');
    scratch = await mkdtemp(join(tmpdir(), 'errand-r-cleanup-'));
    savedTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    // The first child process of a test process opens descriptors it keeps (the SIGCHLD pipe).
    await promisify(execFile)('true');
  });
  after(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    await rm(scratch, { recursive: true, force: true });
    await rm(scripts, { recursive: true, force: true });
  });

  const options = (fields: Partial<RProcessOptions>): RProcessOptions => ({
    rscript: 'Rscript', scriptPath: join(FIXTURES, 'broken.R'), functionName: 'broken', cwd: FIXTURES, logger: testLogger, ...fields,
  });

  /** Starts R expecting it to fail as `expected` says; then nothing may be left. */
  async function failsCleanly(fields: Partial<RProcessOptions>, expected: (err: RLoadError) => boolean): Promise<void> {
    const fds = openFds();
    await assert.rejects(RProcess.start(options(fields)), (err: Error) => err instanceof RLoadError && expected(err));
    assert.deepEqual(await readdir(scratch), [], 'a folder was left behind');
    assert.equal(openFds(), fds, 'a file descriptor was left open');
  }

  test('a script that does not load', async () => {
    await failsCleanly({}, (err) => err.field === 'entry' && /unexpected/.test(err.message));
  });

  test('a script without its function', async () => {
    await failsCleanly({ scriptPath: join(FIXTURES, 'nofunction.R'), functionName: 'nofunction' }, (err) => err.field === 'function' && /no function named nofunction/.test(err.message));
  });

  test('R that does not load the script within the start timeout', async () => {
    await failsCleanly({ scriptPath: join(scripts, 'slow.R'), functionName: 'slow', startTimeoutMs: 1500 }, (err) => err.field === 'entry' && /did not load .*slow\.R within 1\.5 s/.test(err.message));
  });

  test('an R front end that does not exist', async () => {
    await failsCleanly({ rscript: join(scripts, 'no-such-Rscript') }, (err) => err.field === 'runtime' && /cannot start .*no-such-Rscript: .*ENOENT/.test(err.message));
  });

  test('a process that started keeps its folder until it is closed', async () => {
    const r = await RProcess.start(options({ scriptPath: join(FIXTURES, 'probe.R'), functionName: 'probe' }));
    try {
      assert.deepEqual(await readdir(scratch), [r.workDir.slice(scratch.length + 1)]);
      // R's own session folder is inside it, so it goes with it even when R is killed.
      assert.ok((await readdir(r.workDir)).some((name) => name.startsWith('Rtmp')), 'R made its session folder elsewhere');
    } finally {
      await r.close();
      await rm(r.workDir, { recursive: true, force: true });
    }
  });
});
