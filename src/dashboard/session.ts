/**
 * Where the dashboard was opened and with what credential: Errand's base (the page may be served
 * under a path prefix, or under a task link's /access/<token>/), the task a link or a /task/<id>
 * address names, and the API key or token typed in once and kept for this browser tab.
 */

export interface Place {
  /** Errand's base URL: origin, path prefix, and /access/<token> for a task link. */
  base: string;
  /** Opened from a task link: the page shows that one task, with no sign-in. */
  linkTaskId?: string;
  /** Opened at <base>/task/<id>: that task's page. */
  taskId?: string;
}

const LINK = /^(.*\/access\/[^/]+)\/task\/([0-9a-f]{16})\/?$/;
const TASK = /^(.*)\/task\/([0-9a-f]{16})\/?$/;

export function placeOf(origin: string, pathname: string): Place {
  const link = LINK.exec(pathname);
  if (link) return { base: origin + link[1]!, linkTaskId: link[2]! };
  const task = TASK.exec(pathname);
  if (task) return { base: origin + task[1]!, taskId: task[2]! };
  return { base: origin + pathname.replace(/\/+$/, '') };
}

const KEY = 'errand-key';

/** The credential for this tab only (sessionStorage): gone when the tab closes. */
export const storedKey = (): string => {
  try {
    return sessionStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
};

export const storeKey = (key: string): void => {
  try {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (private mode): the key lasts until the page reloads.
  }
};
