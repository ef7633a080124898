/**
 * Server SDK polling: GET /api/public/sdk/server/latest-all on the agent, beside bare node:http and
 * a one-route Nest + fastify app (the framework ceiling) serving the same bytes, in the same run;
 * every server pinned to core 0, wrk pinned to core 1. Target: agent ≥ 0.90 × the ceiling.
 * Usage: node .test-build/bench/polling.bench.js [--flags 8] [--seconds 8] [--connections 100] [--rounds 3] [--short]
 */
import { benchDataFile } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareHttp, httpOptions } from './support/load.js';
import { SERVER_SECRET } from '../test/support/sample-data.js';

// The sample environment's 6 flags and 8 generated ones: a 19.8 KiB answer.
const { options, values } = httpOptions({ flags: { type: 'string', default: '8' } });
const { file: dataFile } = benchDataFile(Number(values['flags']), 'polling');
const agent = await startServerChild('agent', dataFile);
await compareHttp(
  'server latest-all (GET /api/public/sdk/server/latest-all)',
  agent,
  { method: 'GET', path: '/api/public/sdk/server/latest-all', headers: { authorization: SERVER_SECRET } },
  options,
  { ceiling: 0.9 },
);
await agent.stop();
