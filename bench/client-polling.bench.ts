/**
 * Client SDK polling: POST /api/public/sdk/client/latest-all with a user, 50 flags evaluated per
 * request, beside a bare node:http server returning the same bytes, in the same run.
 * Target: agent ≥ 0.16 × bare.
 * Usage: node .test-build/bench/client-polling.bench.js [--flags 44] [--seconds 5] [--connections 50]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBootstrap } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareWithBare } from './support/load.js';
import { CLIENT_SECRET } from '../test/support/sample-data.js';

// The sample environment holds 6 flags; 44 generated ones make 50 per user.
const { values } = parseArgs({
  options: { flags: { type: 'string', default: '44' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' } },
});

const dir = mkdtempSync(join(tmpdir(), 'bench-client-'));
const dataFile = join(dir, 'data.json');
writeFileSync(dataFile, JSON.stringify(benchBootstrap(Number(values.flags))));
const agent = await startServerChild('agent', dataFile);
const path = '/api/public/sdk/client/latest-all';
const user = JSON.stringify({
  keyId: 'u-1001',
  name: 'Ann',
  customizedProperties: [{ name: 'country', value: 'us' }, { name: 'age', value: '30' }, { name: 'email', value: 'ann@example.com' }, { name: 'plan', value: 'pro' }],
});
const headers = { authorization: CLIENT_SECRET, 'content-type': 'application/json' };
const response = await fetch(`http://127.0.0.1:${agent.port}${path}`, { method: 'POST', headers, body: user });
const body = Buffer.from(await response.arrayBuffer());
const flags = (JSON.parse(body.toString()) as { data: { featureFlags: unknown[] } }).data.featureFlags.length;
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, body);
const bare = await startServerChild('bare-http', bodyFile);
console.log(`client polling: ${flags} flags per user, body ${(body.length / 1024).toFixed(1)} KiB, ${values.connections} connections, ${values.seconds} s per run`);
await compareWithBare(
  'agent client/latest',
  { url: `http://127.0.0.1:${agent.port}${path}`, method: 'POST', headers, body: user },
  { url: `http://127.0.0.1:${bare.port}${path}`, method: 'POST', headers, body: user },
  Number(values.seconds),
  Number(values.connections),
  0.16,
);
await agent.stop();
await bare.stop();
