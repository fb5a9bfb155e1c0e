/**
 * The client's errors: what the server refused (with Errand's error code, the field it names and
 * the HTTP status) and what never reached it. Both are plain Errors, so `catch` and `instanceof`
 * work as usual in a browser and in Node.
 */

/** The server answered with an error (docs/api.md, "Conventions"): `{error: {code, message, field?}}`. */
export class ErrandApiError extends Error {
  override readonly name = 'ErrandApiError';
  constructor(
    /** The HTTP status, such as 400, 401, 404, 409 or 503. */
    readonly status: number,
    /** Errand's error code: `invalid_input`, `unauthorized`, `not_found`, `task_ended`, ... */
    readonly code: string,
    message: string,
    /** The request field the error is about, when the server named one. */
    readonly field?: string,
    /** Seconds the server asked to wait before trying again (`Retry-After`), when it did. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The request did not get an answer: the server is down, the network failed, or the answer was cut. */
export class ErrandConnectionError extends Error {
  override readonly name = 'ErrandConnectionError';
  readonly code = 'connection_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isErrandApiError(err: unknown, code?: string): err is ErrandApiError {
  return err instanceof ErrandApiError && (code === undefined || err.code === code);
}

/** Whether a request that failed this way may succeed if sent again unchanged. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ErrandConnectionError) return true;
  return err instanceof ErrandApiError && (err.status === 502 || err.status === 503 || err.status === 504 || err.status === 429);
}

/** Reads an error answer into an ErrandApiError, whatever its body (a proxy's HTML page included). */
export async function errorFromResponse(response: Response): Promise<ErrandApiError> {
  const retryAfter = Number(response.headers.get('retry-after'));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.has('retry-after') ? retryAfter : undefined;
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body was cut: the status still says what happened.
  }
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; field?: unknown } };
    const error = body?.error;
    if (error && typeof error.code === 'string') {
      return new ErrandApiError(response.status, error.code, typeof error.message === 'string' ? error.message : error.code, typeof error.field === 'string' ? error.field : undefined, retryAfterSeconds);
    }
  } catch {
    // Not JSON: an answer from something in front of Errand.
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ErrandApiError(response.status, `http_${response.status}`, `HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ''}`, undefined, retryAfterSeconds);
}
