/**
 * The files a result's index links (`{"href": "plot.png", "content-type": "image/png"}` anywhere
 * in it), as the dashboard shows them and `errand results --out` saves them. A script chooses the
 * names, so only plain file names count: no directory part, no way up, no scheme, nothing a
 * browser or a file system would read as more than a name.
 */

export interface LinkedFile {
  name: string;
  /** The content type the index gives, when it gives one. */
  type?: string;
}

export function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\?#\u0000]/.test(name) && !/^[a-z][a-z0-9+.-]*:/i.test(name);
}

/** Each plain file name the index links, once, in the order first met. */
export function linkedResultFiles(index: unknown): LinkedFile[] {
  const found = new Map<string, LinkedFile>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 64 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((item) => visit(item, depth + 1));
    const record = value as Record<string, unknown>;
    if (typeof record.href === 'string' && isPlainFileName(record.href) && !found.has(record.href)) {
      const type = record['content-type'];
      found.set(record.href, { name: record.href, ...(typeof type === 'string' ? { type } : {}) });
    }
    for (const child of Object.values(record)) visit(child, depth + 1);
  };
  visit(index, 0);
  return [...found.values()];
}
