/**
 * Service input schemas (JSON Schema, draft 2020-12 keywords as Ajv reads them): compiled once per
 * schema and used by servers before anything is written, and by workers as a second line.
 *
 * Validation must never be slow on a hostile input, since it runs on the server's event loop:
 * `pattern` and `patternProperties` run on a linear-time engine (linear-regexp.ts), and the one
 * format whose ajv-formats regular expression backtracks quadratically (`url`: 40,000 characters
 * took over a second) is checked another way.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { backtrackingRisk, linearPatternProblem, linearRegExp, schemaPatterns } from './linear-regexp.ts';

export interface InputProblem {
  /** Dot path of the failing field inside the input (`data.3.x`), or `input` for the whole. */
  field: string;
  message: string;
}

export interface InputValidator {
  /** undefined when the input conforms. */
  validate(input: unknown): InputProblem | undefined;
}

// ajv-formats is CommonJS: its default export arrives wrapped under some loaders.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (ajv: Ajv) => Ajv;

// Ajv asks an engine for `code` only when it writes standalone validation code, which Errand does not.
const regExpEngine = Object.assign((pattern: string, flags: string) => linearRegExp(pattern, flags), { code: 'linearRegExp' });
// Services bring their own schemas, so unknown keywords are tolerated (strict off) rather than fatal.
const ajv = addFormats(new Ajv({ allErrors: false, strict: false, validateSchema: true, code: { regExp: regExpEngine } }));

/**
 * ajv-formats' `url` (not a JSON Schema format, kept for old schemas) is a regular expression whose
 * user-info part backtracks quadratically on "http://" and a run of colons; the WHATWG parser
 * Node ships reads a URL in one pass. Same intent: an absolute http, https or ftp URL with a host
 * and no whitespace.
 */
const URL_SCHEMES = new Set(['http:', 'https:', 'ftp:']);
ajv.addFormat('url', (text: string) => {
  if (/\s/.test(text)) return false;
  try {
    const url = new URL(text);
    return URL_SCHEMES.has(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
});
const compiled = new Map<string, ValidateFunction | { problem: string }>();

function describe(error: ErrorObject): InputProblem {
  const path = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra !== undefined) path.push(extra);
  const field = path.length > 0 ? path.join('.') : 'input';
  const what = error.keyword === 'additionalProperties' ? 'is not allowed' : error.keyword === 'required' ? 'is required' : error.message ?? 'is invalid';
  return { field, message: `${field} ${what}` };
}

/** The first pattern of a schema the linear engine cannot run, named by its place in the schema. */
function patternProblem(schema: unknown): string | undefined {
  for (const { field, pattern } of schemaPatterns(schema)) {
    const problem = linearPatternProblem(pattern);
    if (problem) return `${field}: ${JSON.stringify(pattern)} ${problem}`;
  }
  return undefined;
}

/**
 * Patterns of a schema that a backtracking engine could take superlinear time on: harmless to
 * Errand (see linear-regexp.ts), worth a warning to the service's author.
 */
export function riskyPatterns(schema: unknown): { field: string; pattern: string }[] {
  return schemaPatterns(schema).filter(({ pattern }) => backtrackingRisk(pattern));
}

/** Compiles a schema (cached by its text); a schema that does not compile gives its problem. */
export function createInputValidator(schema: unknown): InputValidator | { problem: string } {
  const key = JSON.stringify(schema);
  let entry = compiled.get(key);
  if (!entry) {
    const unsupported = patternProblem(schema);
    if (unsupported) {
      entry = { problem: unsupported };
    } else {
      try {
        entry = ajv.compile(schema as Record<string, unknown>);
      } catch (err) {
        entry = { problem: `not a valid JSON Schema: ${(err as Error).message}` };
      }
    }
    compiled.set(key, entry);
  }
  if ('problem' in entry) return entry;
  const validateFn = entry;
  return { validate: (input) => (validateFn(input) ? undefined : describe(validateFn.errors![0]!)) };
}
