/**
 * OFREP bulk evaluation (POST /ofrep/v1/evaluate/flags) of 50 flags per request under HTTP load,
 * beside a bare node:http server returning the same bytes, in the same run.
 * Target: agent ≥ 0.16 × bare (the client latest-all target).
 * Usage: node .test-build/bench/ofrep.bench.js [--flags 44] [--seconds 5] [--connections 50]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBootstrap } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareWithBare } from './support/load.js';
import { CLIENT_SECRET } from '../test/support/sample-data.js';

const { values } = parseArgs({
  options: { flags: { type: 'string', default: '44' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' } },
});

const dir = mkdtempSync(join(tmpdir(), 'bench-ofrep-'));
const dataFile = join(dir, 'data.json');
writeFileSync(dataFile, JSON.stringify(benchBootstrap(Number(values.flags))));
const agent = await startServerChild('agent', dataFile);
const path = '/ofrep/v1/evaluate/flags';
const body = JSON.stringify({ context: { targetingKey: 'u-1001', name: 'Ann', country: 'us', age: 30, email: 'ann@example.com', plan: 'pro' } });
const headers = { authorization: CLIENT_SECRET, 'content-type': 'application/json' };
const response = await fetch(`http://127.0.0.1:${agent.port}${path}`, { method: 'POST', headers, body });
const bytes = Buffer.from(await response.arrayBuffer());
const flags = (JSON.parse(bytes.toString()) as { flags: unknown[] }).flags.length;
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, bytes);
const bare = await startServerChild('bare-http', bodyFile);
console.log(`OFREP bulk: ${flags} flags per request, body ${(bytes.length / 1024).toFixed(1)} KiB, ${values.connections} connections, ${values.seconds} s per run`);
await compareWithBare(
  'agent OFREP bulk',
  { url: `http://127.0.0.1:${agent.port}${path}`, method: 'POST', headers, body },
  { url: `http://127.0.0.1:${bare.port}${path}`, method: 'POST', headers, body },
  Number(values.seconds),
  Number(values.connections),
  0.16,
);
await agent.stop();
await bare.stop();
