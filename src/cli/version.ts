/** Errand's own version, from package.json (the same path from src/cli and from dist/cli). */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** package.json's version, read once; "unknown" if it cannot be read (a broken install still runs). */
export function errandVersion(): string {
  if (version === undefined) {
    try {
      const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
      const parsed = JSON.parse(text) as { version?: unknown };
      version = typeof parsed.version === 'string' ? parsed.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
