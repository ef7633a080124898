/**
 * Client SDK polling: POST /api/public/sdk/client/latest-all with a user, 50 flags evaluated per
 * request, beside bare node:http and a one-route Nest + fastify app (the framework ceiling)
 * serving the same bytes, in the same run; servers pinned to core 0, wrk (Lua script sending the
 * same body) pinned to core 1. Target: agent ≥ 0.25 × the ceiling.
 * Usage: node .test-build/bench/client-polling.bench.js [--flags 44] [--seconds 8] [--connections 100] [--rounds 3] [--short]
 */
import { benchDataFile } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareHttp, httpOptions } from './support/load.js';
import { CLIENT_SECRET } from '../test/support/sample-data.js';

// The sample environment holds 6 flags; 44 generated ones make 50 per user.
const { options, values } = httpOptions({ flags: { type: 'string', default: '44' } });
const { file: dataFile } = benchDataFile(Number(values['flags']), 'client');
const agent = await startServerChild('agent', dataFile);
const user = JSON.stringify({
  keyId: 'u-1001',
  name: 'Ann',
  customizedProperties: [{ name: 'country', value: 'us' }, { name: 'age', value: '30' }, { name: 'email', value: 'ann@example.com' }, { name: 'plan', value: 'pro' }],
});
await compareHttp(
  `client latest-all (POST /api/public/sdk/client/latest-all, ${6 + Number(values['flags'])} flags evaluated per user)`,
  agent,
  { method: 'POST', path: '/api/public/sdk/client/latest-all', headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' }, body: user },
  options,
  { ceiling: 0.25 },
);
await agent.stop();
