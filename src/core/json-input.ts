/**
 * Checks a submitted body before anything is written: valid JSON, nesting within bounds, and
 * storable by PostgreSQL's jsonb (which refuses the NUL character). Returns the JSON text to store.
 */
import { ErrandError } from './errors.ts';

/** Deepest nesting of arrays and objects in JSON text, counted without parsing strings' contents. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) max = Math.max(max, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function checkJsonInput(raw: Buffer | undefined, maxDepth: number, field = 'body'): string {
  const text = raw && raw.length > 0 ? raw.toString('utf8') : '';
  if (text.trim() === '') return '{}'; // Patavi stores {} for a request without a JSON body
  try {
    JSON.parse(text);
  } catch (err) {
    throw new ErrandError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`, field);
  }
  if (jsonDepth(text) > maxDepth) {
    throw new ErrandError('invalid_json', `request body nests deeper than ${maxDepth} levels`, field);
  }
  if (text.includes('\\u0000')) {
    throw new ErrandError('invalid_json', 'request body contains the NUL character (\\u0000), which cannot be stored', field);
  }
  return text;
}
