/** The one error type: a stable machine-readable code, the HTTP status it maps to, and the field at fault. */
export const ErrorCodes = {
  missing_field: 400,
  invalid_field: 400,
  invalid_id: 400,
  invalid_json: 400,
  invalid_ttl: 400,
  invalid_input: 400,
  invalid_deadline: 400,
  unknown_service: 400,
  unauthorized: 401,
  // Who may do what (issue 12): signed in, but without the scope, or not the task's owner.
  forbidden: 403,
  // CORS and browsers (issue 12): a browser page of an origin that is not allowed.
  forbidden_origin: 403,
  not_found: 404,
  conflict: 409,
  task_ended: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  // Stream caps (issue 11): a client over its own cap, and the server at its overall one.
  too_many_streams: 429,
  too_many_subscriptions: 429,
  server_busy: 503,
  broker_unavailable: 503,
  database_unavailable: 503,
  internal: 500,
  // HTTP edge (issue 11): what Node's parser, the router and the WebSocket handshake refuse.
  malformed_request: 400,
  invalid_url: 400,
  invalid_handshake: 400,
  request_timeout: 408,
  uri_too_long: 414,
  websocket_required: 426,
  headers_too_large: 431,
  method_not_allowed: 405,
  expectation_failed: 417,
  // JWT bearer tokens (issue 12): the keys to check a token could not be fetched (the token may be fine).
  auth_unavailable: 503,
  // Readiness (issue 14): GET /ready, when a check fails (`field` names the first one).
  not_ready: 503,
  // A request that reaches a server while it closes (on a connection it had open): send it to another.
  shutting_down: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ErrandError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ErrandError';
    this.status = ErrorCodes[code];
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export function isErrandError(err: unknown): err is ErrandError {
  return err instanceof ErrandError;
}
