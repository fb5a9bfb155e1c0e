/**
 * The files a result's index links (`{"href": "plot.png", "content-type": "image/png"}`): images
 * inline, CSV as a table, anything else as a download. Each is fetched with the tab's credential
 * and shown from a blob: URL, so it works whether or not links carry access tokens.
 */
import Papa from 'papaparse';
import { useEffect, useState } from 'preact/hooks';
import { linkedResultFiles } from '../../client/index.ts';
import type { LinkedFile } from '../../client/index.ts';
import { useDashboard } from '../context.ts';
import { errorText } from '../format.ts';

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

/** Image types shown inline. SVG is shown from a data: URL (a browser will not open one as a page), the others from blob: URLs. */
const INLINE_IMAGES = /^image\/(png|jpeg|gif|webp|svg\+xml)$/;

interface Shown { download: string; type: string; image?: string; text?: string }

/**
 * A file's bytes as the page shows them. The download link's blob is always
 * application/octet-stream: a blob: URL has the page's origin, so an HTML or SVG file of the
 * script's type opened from it in a tab would run as the dashboard, with the tab's key.
 */
async function present(bytes: ArrayBuffer, type: string): Promise<{ shown: Shown; urls: string[] }> {
  const download = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const urls = [download];
  const shown: Shown = { download, type };
  if (type === 'image/svg+xml') {
    let binary = '';
    new Uint8Array(bytes).forEach((b) => (binary += String.fromCharCode(b)));
    shown.image = `data:image/svg+xml;base64,${btoa(binary)}`;
  } else if (INLINE_IMAGES.test(type)) {
    shown.image = URL.createObjectURL(new Blob([bytes], { type }));
    urls.push(shown.image);
  }
  if (type === 'text/csv') shown.text = new TextDecoder().decode(bytes);
  return { shown, urls };
}

function ResultFile({ taskId, file }: { taskId: string; file: LinkedFile }) {
  const { client } = useDashboard();
  const [shown, setShown] = useState<Shown | { error: string } | null>(null);
  useEffect(() => {
    let urls: string[] = [];
    let live = true;
    client.file(taskId, file.name).then(async (response) => {
      const type = (response.headers.get('content-type') ?? file.type ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
      const made = await present(await response.arrayBuffer(), type);
      urls = made.urls;
      if (live) setShown(made.shown);
      else urls.forEach((url) => URL.revokeObjectURL(url));
    }, (err: unknown) => live && setShown({ error: errorText(err) }));
    return () => {
      live = false;
      urls.forEach((url) => URL.revokeObjectURL(url));
    };
  }, [taskId, file.name]);
  if (!shown) return <div class="file">{file.name}: loading…</div>;
  if ('error' in shown) return <div class="file error">{file.name}: {shown.error}</div>;
  return (
    <figure class="file" data-testid="result-file" data-file={file.name}>
      <figcaption><a href={shown.download} download={file.name}>{file.name}</a> <span class="muted">{shown.type}</span></figcaption>
      {shown.image ? <img src={shown.image} alt={file.name} /> : null}
      {shown.text !== undefined ? <CsvTable text={shown.text} /> : null}
    </figure>
  );
}

export function ResultFiles({ taskId, index }: { taskId: string; index: unknown }) {
  const files = linkedResultFiles(index);
  if (files.length === 0) return null;
  return <div class="files">{files.map((file) => <ResultFile key={file.name} taskId={taskId} file={file} />)}</div>;
}
