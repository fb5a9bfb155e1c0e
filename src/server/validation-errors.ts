/**
 * Route schemas are checked by Fastify (Ajv) before a handler runs; this turns what Ajv reports
 * into Errand's error: the field named as the request names it, a code saying what kind of
 * problem it is, and a message a person can act on.
 *
 * A schema says how its failures read with an `x-error` annotation (it shows in the OpenAPI
 * description too): `code` for a value that is there but wrong (invalid_field otherwise),
 * `message` saying what a good value is (the value given is appended), `field` when the name to
 * report is not the property's own (a header's usual spelling), `missing` for a required one left
 * out, `tooMany` for a list over its limit (`{limit}` and `{count}` are filled in).
 */
import type { Ajv } from 'ajv';
import type { FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ErrandError, ErrorCodes } from '../core/index.ts';
import type { ErrorCode } from '../core/index.ts';

export interface ErrorAnnotation {
  code?: ErrorCode;
  message?: string;
  field?: string;
  missing?: string;
  tooMany?: string;
}

/** What Ajv adds to each error with `verbose: true`: the schema that failed and the value. */
type VerboseError = FastifySchemaValidationError & { parentSchema?: Record<string, unknown>; data?: unknown; propertyName?: string };

/** Fastify's `ajv` option: errors carry the failing schema and value; `x-error` is an annotation. */
export const AJV_OPTIONS = {
  customOptions: { verbose: true },
  plugins: [(ajv: Ajv) => ajv.addKeyword('x-error')],
};

/** How a message names where an unknown name was given. */
const WHERE: Record<string, string> = { querystring: 'query parameter', params: 'path parameter', headers: 'header', body: 'body field' };

/** Longest rendering of a bad value an error message repeats back. */
const MAX_ECHO = 100;

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}…` : text;
}

function annotationOf(schema: unknown): ErrorAnnotation {
  const annotation = (schema as { 'x-error'?: ErrorAnnotation } | undefined)?.['x-error'];
  return annotation ?? {};
}

function codeOf(annotation: ErrorAnnotation): ErrorCode {
  return annotation.code !== undefined && annotation.code in ErrorCodes ? annotation.code : 'invalid_field';
}

/** Path segments of the failing value: a body's whole path, a parameter's name alone (`task/3` is `task`). */
function fieldOf(error: VerboseError, context: string): string {
  const path = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const missing = (error.params as { missingProperty?: string }).missingProperty;
  if (missing !== undefined) path.push(missing);
  if (context !== 'body') return path[0] ?? context;
  return path.length > 0 ? path.join('.') : 'body';
}

/** Fastify's schemaErrorFormatter: the first problem as an ErrandError (Fastify stops at the first). */
export function validationError(errors: FastifySchemaValidationError[], context: string): ErrandError {
  const all = errors as VerboseError[];
  const first = all[0];
  if (!first) return new ErrandError('invalid_field', `the request's ${context} is not valid`);
  const field = fieldOf(first, context);
  if (first.keyword === 'required') {
    const missing = (first.params as { missingProperty: string }).missingProperty;
    const annotation = annotationOf((first.parentSchema?.properties as Record<string, unknown> | undefined)?.[missing]);
    return new ErrandError('missing_field', annotation.missing ?? `${annotation.field ?? field} is required`, annotation.field ?? field);
  }
  // An unknown parameter: reported by the name's own check (with propertyName), or as an additional property.
  const unknown = all.find((e) => e.propertyName !== undefined)?.propertyName
    ?? (first.keyword === 'additionalProperties' ? (first.params as { additionalProperty: string }).additionalProperty : undefined);
  if (unknown !== undefined) {
    const taken = all.map((e) => (e.params as { allowedValues?: unknown }).allowedValues).find(Array.isArray) as string[] | undefined;
    return new ErrandError('invalid_field', `unknown ${WHERE[context] ?? 'field'} ${shown(unknown)}${taken ? `; this route takes ${taken.join(', ')}` : ''}`, unknown);
  }
  // A combination (anyOf) reports each branch, then itself: its schema holds the annotation.
  const described = all.find((e) => e.parentSchema?.['x-error'] !== undefined) ?? first;
  const annotation = annotationOf(described.parentSchema);
  const name = annotation.field ?? field;
  const { data, parentSchema } = described;
  // An empty value where one is needed is a missing one (`?service=`).
  if (data === '' && typeof parentSchema?.minLength === 'number' && parentSchema.minLength >= 1) {
    return new ErrandError('missing_field', annotation.missing ?? `${name} is required`, name);
  }
  if (described.keyword === 'type' && Array.isArray(data) && parentSchema?.type !== 'array') {
    return new ErrandError('invalid_field', `${name} must be given once`, name);
  }
  if (described.keyword === 'maxItems') {
    const limit = String((described.params as { limit: number }).limit);
    const count = String(Array.isArray(data) ? data.length : '?');
    const message = (annotation.tooMany ?? `${name} may hold at most {limit} values, got {count}`).replace('{limit}', limit).replace('{count}', count);
    return new ErrandError('invalid_field', message, name);
  }
  const what = annotation.message
    ?? (described.keyword === 'format' && (described.params as { format?: string }).format === 'date-time'
      ? `${name} must be a date-time with a time zone (RFC 3339), such as 2026-12-01T00:00:00Z or 2026-12-01T01:00:00+01:00`
      : undefined)
    ?? (described.keyword === 'enum' ? `${name} must be one of ${(parentSchema?.enum as unknown[]).map((v) => String(v)).join(', ')}` : `${name} ${described.message ?? 'is not valid'}`);
  return new ErrandError(codeOf(annotation), `${what}, got ${shown(data)}`, name);
}

/**
 * For routes that settle who asks before looking at what is asked (attachValidation): the
 * schema's refusal, thrown once the caller has been checked.
 */
export function rejectInvalid(request: FastifyRequest): void {
  if (request.validationError) throw request.validationError;
}
