/**
 * OFREP bulk evaluation (POST /ofrep/v1/evaluate/flags) of 50 flags per request, beside bare
 * node:http and a one-route Nest + fastify app (the framework ceiling) serving the same bytes, in
 * the same run; servers pinned to core 0, wrk pinned to core 1. Target: agent ≥ 0.25 × the ceiling.
 * Usage: node .test-build/bench/ofrep.bench.js [--flags 44] [--seconds 8] [--connections 100] [--rounds 3] [--short]
 */
import { benchDataFile } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareHttp, httpOptions } from './support/load.js';
import { CLIENT_SECRET } from '../test/support/sample-data.js';

const { options, values } = httpOptions({ flags: { type: 'string', default: '44' } });
const { file: dataFile } = benchDataFile(Number(values['flags']), 'ofrep');
const agent = await startServerChild('agent', dataFile);
const body = JSON.stringify({ context: { targetingKey: 'u-1001', name: 'Ann', country: 'us', age: 30, email: 'ann@example.com', plan: 'pro' } });
await compareHttp(
  `OFREP bulk (POST /ofrep/v1/evaluate/flags, ${6 + Number(values['flags'])} flags)`,
  agent,
  { method: 'POST', path: '/ofrep/v1/evaluate/flags', headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body },
  options,
  { ceiling: 0.25 },
);
await agent.stop();
