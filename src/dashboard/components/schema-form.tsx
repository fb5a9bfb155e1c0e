/**
 * A form made from a service's input schema: a field per property of an object schema (text, a
 * choice for an enum, a number, a checkbox; JSON for anything nested), or the JSON itself, and the
 * input checked against the schema before it is sent (@cfworker/json-schema: no eval, so the
 * page's Content-Security-Policy needs no 'unsafe-eval').
 */
import { Validator } from '@cfworker/json-schema';
import type { Schema } from '@cfworker/json-schema';
import { useMemo, useState } from 'preact/hooks';

interface PropertySchema { type?: string | string[]; enum?: unknown[]; description?: string; minimum?: number; maximum?: number; default?: unknown }
interface ObjectSchema { type?: string; properties?: Record<string, PropertySchema>; required?: string[] }

export interface Problem { field: string; message: string }

/** Problems of `value` against `schema`, one per place, the innermost message for each. */
export function checkAgainst(schema: unknown, value: unknown): Problem[] {
  if (!schema || typeof schema !== 'object') return [];
  const result = new Validator(schema as Schema, '7', false).validate(value);
  if (result.valid) return [];
  const byPlace = new Map<string, string>();
  for (const unit of result.errors) {
    // Units nest (the object, then its property): the last one for a place is the most precise.
    const field = unit.instanceLocation.replace(/^#\/?/, '').split('/')[0] ?? '';
    if (unit.keyword === 'properties' || unit.keyword === '$ref' || unit.keyword === 'allOf') continue;
    byPlace.set(field, unit.error);
  }
  if (byPlace.size === 0) byPlace.set('', result.errors[0]?.error ?? 'does not match the schema');
  return [...byPlace].map(([field, message]) => ({ field, message }));
}

const typeOf = (p: PropertySchema): string | undefined => (Array.isArray(p.type) ? (p.type.length === 1 ? p.type[0] : undefined) : p.type);

/** Whether a form can show the schema: an object whose properties are all fields a form has. */
function formable(schema: unknown): schema is ObjectSchema & { properties: Record<string, PropertySchema> } {
  const s = schema as ObjectSchema | undefined;
  return !!s && s.type === 'object' && !!s.properties && Object.keys(s.properties).length > 0;
}

function Field({ name, schema, required, value, problem, onChange }: { name: string; schema: PropertySchema; required: boolean; value: unknown; problem?: string; onChange(value: unknown): void }) {
  const type = typeOf(schema);
  const id = `field-${name}`;
  const [text, setText] = useState(() => (value === undefined ? '' : JSON.stringify(value, null, 2)));
  let input;
  if (schema.enum) {
    input = (
      <select id={id} name={name} value={value === undefined ? '' : JSON.stringify(value)} onChange={(e) => { const v = (e.target as HTMLSelectElement).value; onChange(v === '' ? undefined : JSON.parse(v)); }}>
        <option value="">—</option>
        {schema.enum.map((option) => <option key={JSON.stringify(option)} value={JSON.stringify(option)}>{String(option)}</option>)}
      </select>
    );
  } else if (type === 'boolean') {
    input = <input id={id} name={name} type="checkbox" checked={value === true} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? true : undefined)} />;
  } else if (type === 'number' || type === 'integer') {
    input = (
      <input id={id} name={name} type="number" step={type === 'integer' ? 1 : 'any'} value={typeof value === 'number' ? String(value) : ''}
        {...(schema.minimum !== undefined ? { min: schema.minimum } : {})} {...(schema.maximum !== undefined ? { max: schema.maximum } : {})}
        onInput={(e) => { const v = (e.target as HTMLInputElement).value; onChange(v === '' ? undefined : Number(v)); }} />
    );
  } else if (type === 'string') {
    input = <input id={id} name={name} type="text" value={typeof value === 'string' ? value : ''} onInput={(e) => { const v = (e.target as HTMLInputElement).value; onChange(v === '' ? undefined : v); }} />;
  } else {
    input = (
      <textarea id={id} name={name} rows={4} class="json-input" value={text} onInput={(e) => {
        const v = (e.target as HTMLTextAreaElement).value;
        setText(v);
        try { onChange(v.trim() === '' ? undefined : JSON.parse(v)); } catch { /* checked when sent */ }
      }} />
    );
  }
  return (
    <div class={`field${problem ? ' invalid' : ''}`}>
      <label for={id}>{name}{required ? ' *' : ''} <span class="muted">{type ?? 'JSON'}</span></label>
      {input}
      {schema.description ? <small class="help">{schema.description}</small> : null}
      {problem ? <small class="problem" role="alert">{problem}</small> : null}
    </div>
  );
}

/**
 * `onSubmit` gets the checked input, and in the JSON view also its text as typed, which is what is
 * sent (its number spelling kept: an R script reads 1.0 and 1 alike, but a cache key does not).
 */
export function SchemaForm({ schema, initial, initialText, busy, onSubmit }: { schema: unknown; initial: unknown; initialText?: string; busy: boolean; onSubmit(input: unknown, text?: string): void }) {
  const canForm = formable(schema);
  const [mode, setMode] = useState<'form' | 'json'>(canForm && initialText === undefined ? 'form' : 'json');
  const [value, setValue] = useState<Record<string, unknown>>(() => (initial && typeof initial === 'object' && !Array.isArray(initial) ? { ...(initial as Record<string, unknown>) } : {}));
  const [json, setJson] = useState(() => initialText ?? JSON.stringify(initial ?? {}, null, 2));
  const [problems, setProblems] = useState<Problem[]>([]);
  const required = useMemo(() => new Set(canForm ? (schema as ObjectSchema).required ?? [] : []), [schema]);

  const current = (): { input?: unknown; problem?: Problem } => {
    if (mode === 'form') return { input: value };
    try {
      return { input: JSON.parse(json) };
    } catch (err) {
      return { problem: { field: '', message: `not JSON: ${(err as Error).message}` } };
    }
  };
  const switchTo = (next: 'form' | 'json') => {
    if (next === mode) return;
    const now = current();
    if (next === 'json') setJson(JSON.stringify(now.input ?? {}, null, 2));
    else if (now.input && typeof now.input === 'object' && !Array.isArray(now.input)) setValue(now.input as Record<string, unknown>);
    setMode(next);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const now = current();
    const found = now.problem ? [now.problem] : checkAgainst(schema, now.input);
    setProblems(found);
    if (found.length === 0) onSubmit(now.input, mode === 'json' ? json : undefined);
  };
  const problemOf = (field: string) => problems.find((p) => p.field === field)?.message;
  const general = problems.filter((p) => p.field === '' || !(canForm && (schema as ObjectSchema).properties![p.field]) || mode === 'json');

  return (
    <form class="schema-form" onSubmit={submit} noValidate data-testid="submit-form">
      {canForm ? (
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'form'} onClick={() => switchTo('form')}>Form</button>
          <button type="button" role="tab" aria-selected={mode === 'json'} onClick={() => switchTo('json')}>JSON</button>
        </div>
      ) : null}
      {mode === 'form' && canForm
        ? Object.entries((schema as ObjectSchema).properties!).map(([name, property]) => (
          <Field key={name} name={name} schema={property} required={required.has(name)} value={value[name]} {...(problemOf(name) ? { problem: problemOf(name)! } : {})}
            onChange={(v) => setValue((old) => { const next = { ...old }; if (v === undefined) delete next[name]; else next[name] = v; return next; })} />
        ))
        : <textarea class="json-input" name="input" rows={14} value={json} aria-label="input JSON" onInput={(e) => setJson((e.target as HTMLTextAreaElement).value)} />}
      {general.map((p) => <p key={p.field + p.message} class="problem" role="alert">{p.field ? `${p.field}: ` : ''}{p.message}</p>)}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Submitting…' : 'Submit'}</button>
    </form>
  );
}
