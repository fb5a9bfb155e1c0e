/** Reads Prometheus's text format as a test needs it: each sample by its name and labels as printed. */

export type Samples = Map<string, number>;

/** `name{a="x",b="y"}` (or a bare name) to its value; HELP and TYPE lines are skipped. */
export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Samples> {
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return parseMetrics(await response.text());
}

/** How much each of `keys` grew from `before` to `after` (a sample absent counts as 0). */
export function growth(before: Samples, after: Samples, keys: string[]): Record<string, number> {
  return Object.fromEntries(keys.map((key) => [key, (after.get(key) ?? 0) - (before.get(key) ?? 0)]));
}
