#!/usr/bin/env node
/**
 * Builds what production runs: src/ compiled to dist/ by tsc (tsconfig.build.json), plus the files
 * tsc does not copy (the R runtime, the SQL migrations), and the dashboard (src/dashboard) bundled
 * by esbuild into dist/dashboard/app.js and app.css. dist/ is made afresh each time, so nothing
 * of a deleted source (a migration above all) outlives it.
 *
 * `--if-stale` builds only when an input changed since the last build: what `npm start` and the
 * tests' process helper use, so that neither ever runs an old dist/.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
/** Written last; its time is when the build started (an edit made during the build is newer). */
const STAMP = join(DIST, '.built');
/** The browser's code: bundled by esbuild, not compiled file by file. */
const DASHBOARD = join(SRC, 'dashboard');
const INPUTS = [SRC, ...['tsconfig.json', 'tsconfig.build.json', 'scripts/build.js'].map((f) => join(ROOT, f))];

/** Every file and folder under `path` (a folder's time changes when an entry is deleted). */
function* walk(path) {
  yield path;
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) yield* walk(join(path, entry));
}

function isStale() {
  if (!existsSync(STAMP)) return true;
  const builtAt = statSync(STAMP).mtimeMs;
  return INPUTS.some((input) => [...walk(input)].some((path) => statSync(path).mtimeMs > builtAt));
}

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

function build() {
  const startedAt = new Date();
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    fail('TypeScript is not installed: build after `npm ci` (before pruning dev dependencies)');
  }
  rmSync(DIST, { recursive: true, force: true });
  const compiled = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (compiled.status !== 0) fail(`tsc failed (${compiled.signal ?? `status ${compiled.status}`})`);
  for (const path of walk(SRC)) {
    if (path.endsWith('.ts') || statSync(path).isDirectory() || path.startsWith(DASHBOARD)) continue;
    const target = join(DIST, relative(SRC, path));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(path, target);
  }
  bundleDashboard();
  writeFileSync(STAMP, `${startedAt.toISOString()}\n`);
  utimesSync(STAMP, startedAt, startedAt);
}

/** The dashboard's script and styles, minified, for the browsers Errand's users have (2022 on). */
function bundleDashboard() {
  let esbuild;
  try {
    esbuild = createRequire(import.meta.url)('esbuild');
  } catch {
    fail('esbuild is not installed: build after `npm ci` (before pruning dev dependencies)');
  }
  try {
    esbuild.buildSync({
      entryPoints: { app: join(DASHBOARD, 'main.tsx') },
      outdir: join(DIST, 'dashboard'),
      bundle: true,
      minify: true,
      sourcemap: 'linked',
      format: 'esm',
      target: ['chrome100', 'firefox100', 'safari15'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      legalComments: 'linked',
      logLevel: 'error',
    });
  } catch {
    fail('the dashboard did not bundle (esbuild printed why above)');
  }
}

if (process.argv.includes('--if-stale')) {
  if (isStale()) {
    process.stderr.write('build: compiling src/ to dist/ (src/ changed since the last build)\n');
    build();
  }
} else {
  build();
}
