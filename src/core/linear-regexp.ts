/**
 * Regular expressions from service schemas, run in linear time. A schema's `pattern` comes from a
 * service author and its input from any client: with a backtracking engine (JavaScript's own), a
 * pattern such as `\s*~\s*[ a-z]+$` takes quadratic time on `~` and 40,000 spaces, long enough to
 * stall the server's event loop for everyone. RE2 (here re2js, a pure JavaScript port: no native
 * build) matches in time proportional to the input whatever the pattern, at the price of
 * refusing the few JavaScript features that need backtracking: backreferences and lookaround.
 *
 * JSON Schema patterns are ECMAScript syntax; re2js translates what differs (`\u{..}`, named
 * groups, `[^]`). What RE2 reads differently is documented in docs/services.md (`\s` and `.` are
 * ASCII-minded: no Unicode spaces or line separators).
 */
import { RE2JS } from 're2js';
import { isSafePattern } from 'redos-detector';

/** What Ajv needs of a compiled pattern (its `code.regExp` option). */
export interface LinearRegExp {
  test(input: string): boolean;
  /** Ajv keys compiled patterns by this text: it must differ between patterns. */
  toString(): string;
}

/**
 * Features of ECMAScript patterns that need a backtracking engine, found by reading the pattern
 * (escapes and character classes skipped): re2js would refuse some with an obscure message and
 * read `\k<name>` as the letters "k<name>".
 */
function backtrackingFeature(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `a backreference "\\${next}"`;
      if (!inClass && next === 'k') return 'a named backreference "\\k<...>"';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(' && pattern[i + 1] === '?') {
      const head = pattern.slice(i + 2, i + 4);
      if (head.startsWith('=') || head.startsWith('!')) return `a lookahead "${pattern.slice(i, i + 3)}"`;
      if (head === '<=' || head === '<!') return `a lookbehind "${pattern.slice(i, i + 4)}"`;
    }
  }
  return undefined;
}

/** Why the linear engine cannot run `pattern`, or undefined when it can. */
export function linearPatternProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u'); // compiled only, never run: JSON Schema patterns are ECMAScript
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
  const feature = backtrackingFeature(pattern);
  if (feature) return `uses ${feature}, which input patterns cannot: they run on a linear-time engine (RE2) so that no input can stall the server`;
  try {
    RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    return `is not supported by the linear-time engine (RE2) input patterns run on: ${(err as Error).message}`;
  }
  return undefined;
}

/** Compiles `pattern` for Ajv (`flags` is Ajv's "u" or ""); throws what linearPatternProblem says. */
export function linearRegExp(pattern: string, flags = ''): LinearRegExp {
  const problem = linearPatternProblem(pattern);
  if (problem) throw new Error(`pattern ${JSON.stringify(pattern)} ${problem}`);
  const compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
  const text = `/${pattern}/${flags}`;
  return { test: (input) => compiled.test(input), toString: () => text };
}

/**
 * Would a backtracking engine take superlinear time on some input? Errand never runs these
 * patterns with one, but the schema is published (GET /services) and clients, or the service's
 * own code, may well: a flagged pattern earns its author a warning. The checker is bounded
 * (redos-detector's step limit); a pattern it cannot read is not flagged.
 */
export function backtrackingRisk(pattern: string): boolean {
  try {
    return !isSafePattern(pattern, { unicode: true }).safe;
  } catch {
    return false;
  }
}

/** Keywords whose values are data, not schemas: a `pattern` inside them is not one. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example']);
/** Keywords whose keys are names (of properties, definitions), each holding a schema. */
const NAME_MAPS = new Set(['properties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * Every regular expression in a schema, with the path of the field that holds it
 * (`properties.formula.pattern`, `patternProperties.^x-`): `pattern` values and `patternProperties`
 * keys, at any depth.
 */
export function schemaPatterns(schema: unknown, path: string[] = [], names = false): { field: string; pattern: string }[] {
  if (schema === null || typeof schema !== 'object') return [];
  const found: { field: string; pattern: string }[] = [];
  for (const [key, value] of Object.entries(schema)) {
    const here = [...path, key];
    if (names || Array.isArray(schema)) {
      found.push(...schemaPatterns(value, here));
      continue;
    }
    if (DATA_KEYWORDS.has(key)) continue;
    if (key === 'pattern' && typeof value === 'string') found.push({ field: here.join('.'), pattern: value });
    if (key === 'patternProperties' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [pattern, sub] of Object.entries(value)) {
        found.push({ field: [...here, pattern].join('.'), pattern });
        found.push(...schemaPatterns(sub, [...here, pattern]));
      }
      continue;
    }
    found.push(...schemaPatterns(value, here, NAME_MAPS.has(key)));
  }
  return found;
}
