/** What every view gets: the client signed in as the tab is, the page's event socket, and where it is. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ErrandClient } from '../client/index.ts';
import type { EventSocket } from './live.ts';
import type { Place } from './session.ts';

export interface Dashboard {
  client: ErrandClient;
  events: EventSocket;
  place: Place;
  /** Asks for a credential again (after a 401). */
  signOut(message?: string): void;
}

export const DashboardContext = createContext<Dashboard | null>(null);

export function useDashboard(): Dashboard {
  const dashboard = useContext(DashboardContext);
  if (!dashboard) throw new Error('useDashboard outside the dashboard');
  return dashboard;
}
