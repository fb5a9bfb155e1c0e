/**
 * A request that breaks its route's declared schema (Fastify's FST_ERR_VALIDATION, from ajv) as
 * Errand's error: `missing_field` or `invalid_field`, naming the field at fault and saying what it
 * must be, so that routes declaring schemas answer as the ones that check by hand.
 */
import type { FastifyError } from 'fastify';
import { ErrandError } from '../core/index.ts';

interface SchemaProblem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  /** Set by ajv for a problem with a property's name (propertyNames). */
  propertyName?: string;
}

const WHERE: Record<string, string> = { querystring: 'query parameter', params: 'path parameter', headers: 'header', body: 'body field' };

/** The top-level field a JSON pointer (`/status/0`) is about, unescaped. */
function topField(pointer: string): string | undefined {
  const first = pointer.split('/')[1];
  return first === undefined || first === '' ? undefined : first.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function schemaError(err: FastifyError): ErrandError {
  const problems = (err.validation ?? []) as unknown as SchemaProblem[];
  const context = (err as FastifyError & { validationContext?: string }).validationContext ?? 'request';
  const where = WHERE[context] ?? 'field';
  // An unknown name: ajv reports the name's own check (enum) with propertyName, then propertyNames.
  const named = problems.find((p) => p.propertyName !== undefined);
  if (named) {
    const allowed = problems.map((p) => p.params.allowedValues).find(Array.isArray) as string[] | undefined;
    return new ErrandError('invalid_field', `unknown ${where} ${JSON.stringify(named.propertyName)}${allowed ? `; this route takes ${allowed.join(', ')}` : ''}`, named.propertyName);
  }
  const first = problems[0];
  if (!first) return new ErrandError('invalid_field', err.message);
  if (first.keyword === 'required') {
    const field = String(first.params.missingProperty);
    return new ErrandError('missing_field', `${where} ${field} is required`, field);
  }
  if (first.keyword === 'additionalProperties') {
    const field = String(first.params.additionalProperty);
    return new ErrandError('invalid_field', `unknown ${where} ${JSON.stringify(field)}`, field);
  }
  const field = topField(first.instancePath) ?? context;
  const item = first.instancePath.split('/').length > 2 ? ' (each value)' : '';
  switch (first.keyword) {
    case 'enum':
      return new ErrandError('invalid_field', `${field}${item} must be one of ${(first.params.allowedValues as unknown[]).join(', ')}`, field);
    case 'format':
      if (first.params.format === 'date-time') {
        return new ErrandError('invalid_field', `${field}${item} must be a date-time with a time zone (RFC 3339), such as 2026-12-01T00:00:00Z or 2026-12-01T01:00:00+01:00`, field);
      }
      return new ErrandError('invalid_field', `${field}${item} must be a ${String(first.params.format)}`, field);
    default:
      // ajv's own words: "must be integer", "must be <= 500", "must NOT have fewer than 1 characters".
      return new ErrandError('invalid_field', `${field}${item} ${first.message ?? 'is not valid'}`, field);
  }
}
