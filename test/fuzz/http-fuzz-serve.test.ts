/** The fuzz suite of issue 11 against `errand serve` + `errand worker` on PostgreSQL and RabbitMQ. See suite.ts. */
import { realBackend } from '../support/backends.ts';
import { fuzzSuite } from './suite.ts';

await fuzzSuite(realBackend);
