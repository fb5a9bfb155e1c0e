/**
 * Submitting to a service: its description and docs, a form made from its input schema (filled
 * with its example, or with another task's input for "run again"), checked before it is sent.
 */
import { useEffect, useState } from 'preact/hooks';
import { JsonText } from '../../client/index.ts';
import type { ServiceDetail, ServiceSummary } from '../../client/index.ts';
import { SchemaForm } from '../components/schema-form.tsx';
import { useDashboard } from '../context.ts';
import { errorText } from '../format.ts';

export function Submit({ service, from, navigate }: { service?: string; from?: string; navigate(hash: string): void }) {
  const { client } = useDashboard();
  const [services, setServices] = useState<ServiceSummary[]>([]);
  const [detail, setDetail] = useState<ServiceDetail | null>(null);
  const [initial, setInitial] = useState<unknown>(undefined);
  const [initialText, setInitialText] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client.services().then((list) => {
      setServices(list);
      if (!service && list[0]) navigate(`#/submit/${encodeURIComponent(list[0].name)}`);
    }, (err: unknown) => setError(errorText(err)));
  }, [client]);

  useEffect(() => {
    if (!service) return;
    setDetail(null);
    setInitial(undefined);
    setInitialText(undefined);
    setError(null);
    // Run again: the other task's input as it was written, shown as JSON so that it is sent so.
    Promise.all([client.service(service), from ? client.inputText(from) : Promise.resolve(undefined)]).then(([d, text]) => {
      setDetail(d);
      setInitialText(text);
      setInitial(text !== undefined ? JSON.parse(text) : d.example ?? {});
    }, (err: unknown) => setError(errorText(err)));
  }, [service, from, client]);

  const send = async (input: unknown, text?: string) => {
    setBusy(true);
    setError(null);
    try {
      const task = await client.submit(service!, text !== undefined ? new JsonText(text) : input);
      navigate(`#/task/${task.id}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Submit</h1>
      <label>Service{' '}
        <select name="service-choice" value={service ?? ''} onChange={(e) => navigate(`#/submit/${encodeURIComponent((e.target as HTMLSelectElement).value)}`)}>
          {services.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
        </select>
      </label>
      {from ? <p class="muted">Input from task <a href={`#/task/${from}`} class="mono">{from}</a>.</p> : null}
      {error ? <p class="error" role="alert" data-testid="submit-error">{error}</p> : null}
      {detail ? (
        <div class="submit">
          {detail.description ? <p>{detail.description}</p> : null}
          {detail.online === false ? <p class="warning">No worker runs this service now: the task will wait in its queue.</p> : null}
          {initial !== undefined ? <SchemaForm key={`${service}:${from ?? ''}`} schema={detail.inputSchema} initial={initial} {...(initialText !== undefined ? { initialText } : {})} busy={busy} onSubmit={send} /> : null}
          {detail.docs ? <details class="docs"><summary>About this service</summary><pre>{detail.docs}</pre></details> : null}
        </div>
      ) : null}
    </section>
  );
}
