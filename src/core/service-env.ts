/**
 * The environment a service's processes get. Not the worker's: a worker started by hand or by
 * `errand dev` holds the API key, the database URL with its password, PG* variables and whatever
 * else its shell had, and a script that prints its environment would put them into a result
 * anyone with the task's id can read. A service gets an allowlist of harmless variables, what its
 * manifest declares (`env`), and what its runtime sets; never Errand's own settings.
 */

/** Passed from the worker's environment to every service, when set there. */
export const BASE_VARIABLES = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'] as const;
/** Locale categories (LC_ALL, LC_CTYPE, ...) are passed as a family. */
const LOCALE_VARIABLE = /^LC_[A-Z]+$/;
/** Where R finds installed packages: needed to run at all when R's libraries are not the defaults. */
const RUNTIME_VARIABLES: Record<string, readonly string[]> = { r: ['R_LIBS', 'R_LIBS_USER', 'R_LIBS_SITE'] };

/** Names a manifest may not set at all: Errand's own namespace (the command runtime sets ERRAND_TASK_ID, ...). */
export const RESERVED_VARIABLE = /^ERRAND_/i;
/**
 * Names that hold Errand's connections when set in a worker's environment: PostgreSQL's client
 * variables (PGPASSWORD, PGHOST, ...: node-postgres reads them), RabbitMQ and database URLs. A
 * manifest may give its service a value of its own under such a name, never pass the worker's.
 */
export const CONNECTION_VARIABLE = /^(ERRAND_|PG|AMQP|RABBITMQ|CLOUDAMQP|DATABASE_URL$)/i;

/** What a manifest's `env` says: a fixed value, or `true` to pass the worker's value. */
export type DeclaredEnvironment = Readonly<Record<string, string | true>>;

export interface ServiceEnvironment {
  env: Record<string, string>;
  /** Declared pass-through variables dropped because their value holds one of Errand's secrets. */
  withheld: string[];
}

/**
 * Secret values Errand holds (API key, connection URLs) and the passwords inside the URLs: a
 * declared pass-through variable whose value contains one is withheld, whatever its name (the
 * allowlisted PATH, HOME, locale and time zone are not expected to hold any).
 */
export function secretValues(settings: readonly (string | undefined)[]): string[] {
  const secrets = new Set<string>();
  for (const value of settings) {
    if (!value) continue;
    secrets.add(value);
    try {
      const password = decodeURIComponent(new URL(value).password);
      if (password) secrets.add(password);
    } catch {
      // not a URL: the value itself is the secret
    }
  }
  // A very short secret would match unrelated values by accident.
  return [...secrets].filter((s) => s.length >= 4);
}

/** The variables for one service's processes. `host` is the worker's environment. */
export function serviceEnvironment(
  host: Readonly<Record<string, string | undefined>>,
  declared: DeclaredEnvironment,
  runtime: string,
  secrets: readonly string[] = [],
): ServiceEnvironment {
  const holdsSecret = (value: string): boolean => secrets.some((secret) => value.includes(secret));
  const env: Record<string, string> = {};
  const allowed = new Set<string>([...BASE_VARIABLES, ...(RUNTIME_VARIABLES[runtime] ?? [])]);
  for (const [name, value] of Object.entries(host)) {
    if (value !== undefined && (allowed.has(name) || LOCALE_VARIABLE.test(name))) env[name] = value;
  }
  const withheld: string[] = [];
  for (const [name, value] of Object.entries(declared)) {
    if (RESERVED_VARIABLE.test(name)) continue; // refused by the manifest check; never set here
    if (value !== true) {
      env[name] = value;
      continue;
    }
    const passed = host[name];
    if (passed === undefined || CONNECTION_VARIABLE.test(name)) continue;
    if (holdsSecret(passed)) withheld.push(name);
    else env[name] = passed;
  }
  return { env, withheld };
}
