/**
 * The dashboard: sign-in, navigation and the views, routed by the address's hash (#/tasks,
 * #/task/<id>, #/services, #/submit/<service>). Opened from a task link it shows that task alone,
 * with no sign-in: the link is the credential.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { createClient, isErrandApiError } from '../client/index.ts';
import { DashboardContext } from './context.ts';
import type { Dashboard } from './context.ts';
import { EventSocket } from './live.ts';
import type { Connection } from './live.ts';
import { storedKey, storeKey } from './session.ts';
import type { Place } from './session.ts';
import { Services } from './views/services.tsx';
import { Submit } from './views/submit.tsx';
import { TaskList } from './views/task-list.tsx';
import { TaskPage } from './views/task-page.tsx';

interface Route { view: 'tasks' | 'task' | 'services' | 'submit'; id?: string; service?: string; query: URLSearchParams }

const TASK_ID = /^[0-9a-f]{16}$/;

const decoded = (part: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
};

/** The view an address asks for; an address that names no task properly gets the list. */
export function routeOf(hash: string, place: Place): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(search);
  if (query.has('from') && !TASK_ID.test(query.get('from')!)) query.delete('from');
  const parts = path.split('/').filter(Boolean).map(decoded);
  if (place.linkTaskId) return { view: 'task', id: place.linkTaskId, query };
  if (parts[0] === 'task' && parts[1] && TASK_ID.test(parts[1])) return { view: 'task', id: parts[1], query };
  if (parts[0] === 'services') return { view: 'services', query };
  if (parts[0] === 'submit') return { view: 'submit', ...(parts[1] ? { service: parts[1] } : {}), query };
  if (!path && place.taskId) return { view: 'task', id: place.taskId, query };
  return { view: 'tasks', query };
}

function SignIn({ message, onKey }: { message: string | null; onKey(key: string): void }) {
  const [key, setKey] = useState('');
  return (
    <section class="sign-in">
      <h1>Sign in</h1>
      {message ? <p class="error" role="alert">{message}</p> : null}
      <form onSubmit={(e) => { e.preventDefault(); onKey(key.trim()); }}>
        <label>API key or token <input name="key" type="password" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} /></label>
        <p class="muted">Kept for this tab only. A task link opens its task without one.</p>
        <button type="submit" class="primary">Sign in</button>
      </form>
    </section>
  );
}

const CONNECTION_TEXT: Record<Connection, string> = { connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…', 'signed-out': 'signed out' };

export function App({ place }: { place: Place }) {
  const linkMode = place.linkTaskId !== undefined;
  const [key, setKey] = useState(() => (linkMode ? '' : storedKey()));
  const [signIn, setSignIn] = useState<{ message: string | null } | null>(null);
  const [hash, setHash] = useState(location.hash);
  const [connection, setConnection] = useState<Connection>('connecting');

  useEffect(() => {
    const onHash = () => setHash(location.hash);
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // A new sign-in (even with the same key) makes a new client and socket.
  const [signIns, setSignIns] = useState(0);
  const dashboard = useMemo<Dashboard>(() => {
    const client = createClient({ url: place.base, ...(key ? { key } : {}), clientName: 'errand-dashboard' });
    const events = new EventSocket(place.base, key);
    return { client, events, place, signOut: (message) => setSignIn({ message: message ?? null }) };
  }, [key, signIns]);

  // Refused: the socket would only be refused again.
  useEffect(() => {
    if (signIn) dashboard.events.close();
  }, [signIn, dashboard]);

  useEffect(() => {
    setConnection(dashboard.events.state);
    const stop = dashboard.events.onState(setConnection);
    // Whether the server wants a credential from us: a list needs one when authentication is on.
    if (!linkMode) {
      dashboard.client.listPage({ limit: 1 }).then(() => setSignIn(null), (err: unknown) => {
        if (isErrandApiError(err) && err.status === 401) setSignIn({ message: key ? 'That key or token is not accepted.' : null });
      });
    }
    return () => {
      stop();
      dashboard.events.close();
    };
  }, [dashboard]);

  const navigate = (next: string) => {
    if (location.hash !== next) location.hash = next;
    else setHash(next);
  };
  const route = routeOf(hash, place);
  const signedOut = connection === 'signed-out' || signIn !== null;

  return (
    <DashboardContext.Provider value={dashboard}>
      <header class="top">
        <a class="brand" href={linkMode ? '#' : '#/tasks'}>Errand</a>
        {!linkMode ? (
          <nav>
            <a href="#/tasks" aria-current={route.view === 'tasks' || route.view === 'task' ? 'page' : undefined}>Tasks</a>
            <a href="#/services" aria-current={route.view === 'services' ? 'page' : undefined}>Services</a>
            <a href="#/submit" aria-current={route.view === 'submit' ? 'page' : undefined}>Submit</a>
          </nav>
        ) : <span class="muted">a shared task</span>}
        <span class={`connection connection-${connection}`} data-testid="connection">{CONNECTION_TEXT[connection]}</span>
        {!linkMode && key ? <button type="button" class="link" onClick={() => { storeKey(''); setKey(''); }}>Sign out</button> : null}
      </header>
      <main>
        {signedOut && !linkMode ? (
          <SignIn message={signIn?.message ?? (connection === 'signed-out' ? 'The credential expired or is not accepted.' : null)} onKey={(k) => { storeKey(k); setSignIn(null); setKey(k); setSignIns((n) => n + 1); }} />
        ) : route.view === 'task' ? <TaskPage id={route.id!} navigate={navigate} />
          : route.view === 'services' ? <Services />
            : route.view === 'submit' ? <Submit {...(route.service ? { service: route.service } : {})} {...(route.query.get('from') ? { from: route.query.get('from')! } : {})} navigate={navigate} />
              : <TaskList query={route.query} navigate={navigate} />}
      </main>
    </DashboardContext.Provider>
  );
}
