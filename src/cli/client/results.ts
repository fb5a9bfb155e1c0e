/**
 * `--out DIR`: a task's result saved as `result.json` (as the script wrote it) with each file its
 * index links beside it. File names come from the script, so only plain names are written, never
 * a path: nothing lands outside DIR.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { linkedResultFiles } from '../../client/index.ts';
import type { ErrandClient } from '../../client/index.ts';

/** The relative hrefs an index links, each once (see linkedResultFiles). */
export function linkedFiles(index: unknown): string[] {
  return linkedResultFiles(index).map((file) => file.name);
}

/** Saves the result and its files under `dir`; answers the paths written and the files left out. */
export async function saveResults(client: ErrandClient, id: string, dir: string, skipped: string[] = []): Promise<string[]> {
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
    if (name === 'result.json') {
      // The result itself is saved under that name; a file of the script's may not replace it.
      skipped.push(name);
      continue;
    }
    const response = await client.file(id, name);
    const path = join(dir, name);
    await writeFile(path, new Uint8Array(await response.arrayBuffer()));
    written.push(path);
  }
  return written;
}
