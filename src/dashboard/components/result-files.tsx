/**
 * The files a result's index links (`{"href": "plot.png", "content-type": "image/png"}`): images
 * inline, CSV as a table, anything else as a download. Each is fetched with the tab's credential
 * and shown from a blob: URL, so it works whether or not links carry access tokens.
 */
import Papa from 'papaparse';
import { useEffect, useState } from 'preact/hooks';
import { useDashboard } from '../context.ts';
import { errorText } from '../format.ts';

export interface LinkedFile { name: string; type?: string }

/** The relative files an index links, each once, with the type the index gives. */
export function linkedFiles(index: unknown): LinkedFile[] {
  const found = new Map<string, LinkedFile>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 32 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((v) => visit(v, depth + 1));
    const record = value as Record<string, unknown>;
    if (typeof record.href === 'string' && /^[^/\\:?#]+$/.test(record.href) && record.href !== '..' && record.href !== '.') {
      const type = typeof record['content-type'] === 'string' ? record['content-type'] : undefined;
      if (!found.has(record.href)) found.set(record.href, { name: record.href, ...(type ? { type } : {}) });
    }
    Object.values(record).forEach((v) => visit(v, depth + 1));
  };
  visit(index, 0);
  return [...found.values()];
}

const MAX_CSV_ROWS = 500;

function CsvTable({ text }: { text: string }) {
  const parsed = Papa.parse<string[]>(text.trim(), { skipEmptyLines: true, preview: MAX_CSV_ROWS + 1 });
  const [header, ...rows] = parsed.data;
  if (!header) return <p>(empty)</p>;
  return (
    <div class="table-scroll">
      <table class="csv" data-testid="csv-table">
        <thead><tr>{header.map((cell, i) => <th key={i}>{cell}</th>)}</tr></thead>
        <tbody>{rows.slice(0, MAX_CSV_ROWS).map((row, i) => <tr key={i}>{row.map((cell, j) => <td key={j}>{cell}</td>)}</tr>)}</tbody>
      </table>
      {rows.length > MAX_CSV_ROWS ? <p class="muted">first {MAX_CSV_ROWS} rows shown; download the file for the rest</p> : null}
    </div>
  );
}

function ResultFile({ taskId, file }: { taskId: string; file: LinkedFile }) {
  const { client } = useDashboard();
  const [shown, setShown] = useState<{ url: string; type: string; text?: string } | { error: string } | null>(null);
  useEffect(() => {
    let url: string | undefined;
    let live = true;
    client.file(taskId, file.name).then(async (response) => {
      const type = (response.headers.get('content-type') ?? file.type ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
      const blob = await response.blob();
      url = URL.createObjectURL(blob);
      const text = type === 'text/csv' ? await blob.text() : undefined;
      if (live) setShown({ url, type, ...(text !== undefined ? { text } : {}) });
    }, (err: unknown) => live && setShown({ error: errorText(err) }));
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [taskId, file.name]);
  if (!shown) return <div class="file">{file.name}: loading…</div>;
  if ('error' in shown) return <div class="file error">{file.name}: {shown.error}</div>;
  return (
    <figure class="file" data-testid="result-file" data-file={file.name}>
      <figcaption><a href={shown.url} download={file.name}>{file.name}</a> <span class="muted">{shown.type}</span></figcaption>
      {/^image\/(png|jpeg|gif|webp|svg\+xml)$/.test(shown.type) ? <img src={shown.url} alt={file.name} /> : null}
      {shown.text !== undefined ? <CsvTable text={shown.text} /> : null}
    </figure>
  );
}

export function ResultFiles({ taskId, index }: { taskId: string; index: unknown }) {
  const files = linkedFiles(index);
  if (files.length === 0) return null;
  return <div class="files">{files.map((file) => <ResultFile key={file.name} taskId={taskId} file={file} />)}</div>;
}
