/**
 * Service input schemas (JSON Schema, draft 2020-12 keywords as Ajv reads them): compiled once per
 * schema and used by servers before anything is written, and by workers as a second line.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';

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

// Services bring their own schemas, so unknown keywords are tolerated (strict off) rather than fatal.
const ajv = addFormats(new Ajv({ allErrors: false, strict: false, validateSchema: true }));
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

/** Compiles a schema (cached by its text); a schema that does not compile gives its problem. */
export function createInputValidator(schema: unknown): InputValidator | { problem: string } {
  const key = JSON.stringify(schema);
  let entry = compiled.get(key);
  if (!entry) {
    try {
      entry = ajv.compile(schema as Record<string, unknown>);
    } catch (err) {
      entry = { problem: `not a valid JSON Schema: ${(err as Error).message}` };
    }
    compiled.set(key, entry);
  }
  if ('problem' in entry) return entry;
  const validateFn = entry;
  return { validate: (input) => (validateFn(input) ? undefined : describe(validateFn.errors![0]!)) };
}
