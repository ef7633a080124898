/**
 * Server SDK polling: GET /api/public/sdk/server/latest-all on the agent, beside a bare node:http
 * server returning the same bytes, measured in the same run. Target: agent ≥ 0.75 × bare.
 * Usage: node .test-build/bench/polling.bench.js [--flags 8] [--seconds 5] [--connections 50]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBootstrap } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { compareWithBare } from './support/load.js';
import { SERVER_SECRET } from '../test/support/sample-data.js';

const { values } = parseArgs({
  options: { flags: { type: 'string', default: '8' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '50' } },
});

const dir = mkdtempSync(join(tmpdir(), 'bench-polling-'));
const dataFile = join(dir, 'data.json');
writeFileSync(dataFile, JSON.stringify(benchBootstrap(Number(values.flags))));
const agent = await startServerChild('agent', dataFile);
const path = '/api/public/sdk/server/latest-all';
const headers = { authorization: SERVER_SECRET };
const body = Buffer.from(await (await fetch(`http://127.0.0.1:${agent.port}${path}`, { headers })).arrayBuffer());
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, body);
const bare = await startServerChild('bare-http', bodyFile);
console.log(`server polling: body ${(body.length / 1024).toFixed(1)} KiB, ${values.connections} connections, ${values.seconds} s per run`);
await compareWithBare(
  'agent latest-all',
  { url: `http://127.0.0.1:${agent.port}${path}`, headers },
  { url: `http://127.0.0.1:${bare.port}${path}` },
  Number(values.seconds),
  Number(values.connections),
  0.75,
);
await agent.stop();
await bare.stop();
