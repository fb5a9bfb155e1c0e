/** The fuzz suite of issue 11 against `errand dev` (PGlite + the in-process broker). See suite.ts. */
import { embeddedBackend } from '../support/backends.ts';
import { fuzzSuite } from './suite.ts';

await fuzzSuite(embeddedBackend);
