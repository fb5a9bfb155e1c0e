/**
 * Input patterns cannot stall the server: `pattern` and `patternProperties` run on a linear-time
 * engine, patterns it cannot run are refused naming their place, the `url` format reads any length
 * in one pass, and patterns a backtracking engine would be slow on are found for a warning.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createInputValidator, readManifest, riskyPatterns } from '../../src/core/index.ts';
import type { InputValidator, ManifestProblem } from '../../src/core/index.ts';

/** The regression example's formula pattern before it was fixed: quadratic in JavaScript's engine. */
const QUADRATIC = '^\\s*[A-Za-z][A-Za-z0-9_.]*\\s*~\\s*[A-Za-z0-9_. +*:-]+$';

function validator(schema: unknown): InputValidator {
  const compiled = createInputValidator(schema);
  assert.ok('validate' in compiled, JSON.stringify(compiled));
  return compiled;
}

function refused(schema: unknown): string {
  const compiled = createInputValidator(schema);
  assert.ok('problem' in compiled, 'the schema was accepted');
  return compiled.problem;
}

test('a quadratic pattern answers 40,000 spaces and 5 MB of them (it took 2.9 s and hours with a backtracking engine)', () => {
  const check = validator({ type: 'object', properties: { formula: { type: 'string', pattern: QUADRATIC } } });
  for (const spaces of [40_000, 5_000_000]) {
    const problem = check.validate({ formula: `y ~${' '.repeat(spaces)}!` });
    assert.equal(problem?.field, 'formula');
    assert.match(problem.message, /must match pattern/);
  }
  assert.equal(check.validate({ formula: 'y ~ x * group' }), undefined);
});

test('patternProperties keys run on the same engine, and still mean what they say', () => {
  const check = validator({ type: 'object', patternProperties: { '^x-(a+)+$': { type: 'number' } }, additionalProperties: false });
  assert.equal(check.validate({ 'x-aaa': 1 }), undefined);
  assert.equal(check.validate({ 'x-aa': 'one' })?.field, 'x-aa');
  // Exponential in a backtracking engine: 5 MB of "a" then "!" is simply not a match here.
  assert.equal(check.validate({ [`x-${'a'.repeat(5_000_000)}!`]: 1 })?.message, `${`x-${'a'.repeat(5_000_000)}!`} is not allowed`);
});

test('ECMAScript syntax that RE2 spells otherwise is translated: \\u escapes, \\u{...}, named groups, [^], \\p{...}', () => {
  const check = validator({
    type: 'object',
    properties: {
      accent: { type: 'string', pattern: '^caf\\u00e9$' },
      emoji: { type: 'string', pattern: '^\\u{1F600}$' },
      named: { type: 'string', pattern: '^(?<year>\\d{4})-\\d\\d$' },
      any: { type: 'string', pattern: '^a[^]b$' },
      letters: { type: 'string', pattern: '^\\p{L}+$' },
    },
  });
  assert.equal(check.validate({ accent: 'café', emoji: '😀', named: '2024-05', any: 'a\nb', letters: 'Ωμέγα' }), undefined);
  assert.equal(check.validate({ accent: 'cafe' })?.field, 'accent');
  assert.equal(check.validate({ named: '24-05' })?.field, 'named');
  assert.equal(check.validate({ letters: 'abc1' })?.field, 'letters');
});

test('backreferences and lookaround are refused, naming the pattern and where it is', () => {
  assert.match(refused({ properties: { a: { type: 'string', pattern: '^(a)\\1$' } } }), /^properties\.a\.pattern: "\^\(a\)\\\\1\$" uses a backreference "\\1".*linear-time engine \(RE2\)/);
  assert.match(refused({ properties: { a: { pattern: '^(?<x>a)\\k<x>$' } } }), /named backreference/);
  assert.match(refused({ items: { pattern: '^(?=a)' } }), /^items\.pattern: .*lookahead "\(\?="/);
  assert.match(refused({ properties: { a: { pattern: 'b(?!c)' } } }), /lookahead "\(\?!"/);
  assert.match(refused({ properties: { a: { pattern: '(?<!a)b' } } }), /lookbehind "\(\?<!"/);
  assert.match(refused({ patternProperties: { '^(x)\\1$': {} } }), /^patternProperties\.\^\(x\)\\1\$: .*backreference/);
  assert.match(refused({ $defs: { deep: { propertyNames: { pattern: '(?<=a)b' } } } }), /^\$defs\.deep\.propertyNames\.pattern: .*lookbehind/);
  assert.match(refused({ properties: { a: { pattern: '(' } } }), /is not a valid regular expression/);
  // In a character class, or escaped, these are plain characters; and data is not a schema.
  validator({ properties: { a: { pattern: '^[(?=]\\(\\?=x$' } } });
  validator({ properties: { pattern: { type: 'string' }, default: { type: 'string', pattern: '^a$' } }, default: { pattern: '(a)\\1' }, examples: [{ pattern: '(?=a)' }] });
  assert.match(refused({ properties: { default: { type: 'string', pattern: '(?=a)' } } }), /^properties\.default\.pattern/);
});

test('the url format reads 5 MB in one pass, and keeps its meaning', () => {
  const check = validator({ type: 'string', format: 'url' });
  assert.match(check.validate(`http://${':'.repeat(5_000_000)}!`)?.message ?? '', /must match format "url"/);
  for (const good of ['http://example.com', 'https://user:pw@example.com:8080/a/b?c=d#e', 'ftp://files.example.org/x']) assert.equal(check.validate(good), undefined, good);
  for (const bad of ['example.com', 'mailto:a@b.c', 'http://exa mple.com', 'javascript:alert(1)', 'http://']) assert.ok(check.validate(bad), bad);
});

test('patterns a backtracking engine would be slow on are found, with their place; the fixed regression example has none', () => {
  const schema = { properties: { formula: { type: 'string', pattern: QUADRATIC }, code: { type: 'string', pattern: '^[A-Z]{3}$' } }, patternProperties: { '^(a+)+$': {} } };
  assert.deepEqual(riskyPatterns(schema), [
    { field: 'properties.formula.pattern', pattern: QUADRATIC },
    { field: 'patternProperties.^(a+)+$', pattern: '^(a+)+$' },
  ]);
  const regression = JSON.parse(readFileSync(new URL('../../services/regression/service.json', import.meta.url), 'utf8')) as { inputSchema: unknown; example: unknown };
  assert.deepEqual(riskyPatterns(regression.inputSchema), []);
  const check = validator(regression.inputSchema);
  assert.equal(check.validate(regression.example), undefined);
  const data = { x: [1, 2, 3], y: [2, 4, 7] };
  for (const formula of ['y ~ x', ' y~x', 'y ~ x * g + z:w - 1', 'y ~ .', 'y ~\tx']) assert.equal(check.validate({ formula, data }), undefined, formula);
  for (const formula of ['y ~ log(x)', 'y ~', '~ x', `y ~${' '.repeat(5_000_000)}!`]) assert.equal(check.validate({ formula, data })?.field, 'formula', formula.slice(0, 20));
});

test('a manifest whose input schema has a pattern the engine cannot run is refused at inputSchema, saying why', () => {
  const result = readManifest({ entry: 'a.R', inputSchema: { properties: { id: { type: 'string', pattern: '^(\\d)\\1$' } } } }, 'x', 'x/service.json') as ManifestProblem;
  assert.equal(result.field, 'inputSchema');
  assert.match(result.message, /^inputSchema: properties\.id\.pattern: .*backreference/);
});
