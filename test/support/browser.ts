/**
 * Debian's Chromium driven by playwright-core, for the dashboard's tests (issue 15). Outside CI a
 * suite skips with one line when Chromium is missing; with CI=true it fails (.ci/run installs it).
 * Screenshots go to test-output/screenshots/, to be looked at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from './build.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-output', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, `${name}.png`);
}

/** describe() for suites that need Chromium: skipped with a hint outside CI, failing in CI. */
export function describeWithBrowser(title: string, body: () => void): void {
  const missing = existsSync(CHROMIUM) ? undefined : `Chromium is not installed: apt-get install -y chromium to run the dashboard's browser tests`;
  describe(title, { skip: missing !== undefined && process.env.CI !== 'true' ? missing : false }, () => {
    if (missing !== undefined && process.env.CI === 'true') throw new Error(`Chromium is required in CI: ${missing}`);
    body();
  });
}
