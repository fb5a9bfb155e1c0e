/**
 * JSON as a tree: objects and arrays fold open and shut, the first levels open. Long arrays and
 * objects show their first 200 entries, so a million-number result does not freeze the page.
 */
const SHOWN = 200;

function Leaf({ value }: { value: unknown }) {
  if (value === null) return <span class="json-null">null</span>;
  if (typeof value === 'string') return <span class="json-string">{JSON.stringify(value)}</span>;
  if (typeof value === 'number') return <span class="json-number">{String(value)}</span>;
  if (typeof value === 'boolean') return <span class="json-boolean">{String(value)}</span>;
  return <span>{String(value)}</span>;
}

function Node({ name, value, depth }: { name?: string; value: unknown; depth: number }) {
  const label = name !== undefined ? <span class="json-key">{name}: </span> : null;
  if (value === null || typeof value !== 'object') {
    return <div class="json-row">{label}<Leaf value={value} /></div>;
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
  const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <details class="json-node" open={depth < 2}>
      <summary>{label}<span class="json-summary">{summary}</span></summary>
      <div class="json-children">
        {entries.slice(0, SHOWN).map(([key, child]) => <Node key={key} name={key} value={child} depth={depth + 1} />)}
        {entries.length > SHOWN ? <div class="json-more">… {entries.length - SHOWN} more</div> : null}
      </div>
    </details>
  );
}

export function JsonTree({ value }: { value: unknown }) {
  return <div class="json-tree" data-testid="json-tree"><Node value={value} depth={0} /></div>;
}
