/**
 * `--out DIR`: a task's result saved as `result.json` (as the script wrote it) with each file its
 * index links beside it. File names come from the script, so only plain names are written, never
 * a path: nothing lands outside DIR.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ErrandClient } from '../../client/index.ts';

/** The relative hrefs an index links (`{"href": "plot.png"}` anywhere in it), each once. */
export function linkedFiles(index: unknown): string[] {
  const found = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 64 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((item) => visit(item, depth + 1));
    const href = (value as { href?: unknown }).href;
    if (typeof href === 'string' && isPlainName(href)) found.add(href);
    for (const child of Object.values(value)) visit(child, depth + 1);
  };
  visit(index, 0);
  return [...found];
}

/** A file name with no directory part and no way up: what may be written under DIR. */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && basename(name) === name && !name.includes('\\') && !/^[a-z][a-z0-9+.-]*:/i.test(name) && !name.includes('\0');
}

/** Saves the result and its files under `dir`; answers the paths written. */
export async function saveResults(client: ErrandClient, id: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const text = await client.resultsText(id);
  const written = [join(dir, 'result.json')];
  await writeFile(written[0]!, text);
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch {
    return written;
  }
  for (const name of linkedFiles(index)) {
    const response = await client.file(id, name);
    const path = join(dir, name);
    await writeFile(path, new Uint8Array(await response.arrayBuffer()));
    written.push(path);
  }
  return written;
}
