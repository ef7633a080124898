/**
 * Server SDK polling: GET /api/public/sdk/server/latest-all on the agent, beside a bare node:http
 * server returning the same bytes, measured in the same run. Target: agent ≥ 0.75 × bare.
 * Usage: node .test-build/bench/polling.bench.js [--flags 20] [--seconds 10] [--connections 50]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { benchBootstrap } from './support/bench-data.js';
import { startServerChild } from './support/child.js';
import { SERVER_SECRET } from '../test/support/sample-data.js';

const { values } = parseArgs({
  options: { flags: { type: 'string', default: '20' }, seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' } },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

async function load(url: string, headers: Record<string, string>): Promise<{ rps: number; p99: number; errors: number }> {
  const result = await autocannon({ url, connections, duration: seconds, headers, pipelining: 1 });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-polling-'));
  const dataFile = join(dir, 'data.json');
  writeFileSync(dataFile, JSON.stringify(benchBootstrap(Number(values.flags))));

  const agent = await startServerChild('agent', dataFile);
  const path = '/api/public/sdk/server/latest-all';
  const body = Buffer.from(await (await fetch(`http://127.0.0.1:${agent.port}${path}`, { headers: { authorization: SERVER_SECRET } })).arrayBuffer());
  const bodyFile = join(dir, 'body.json');
  writeFileSync(bodyFile, body);
  const bare = await startServerChild('bare-http', bodyFile);
  console.log(`polling: body ${(body.length / 1024).toFixed(1)} KiB, ${connections} connections, ${seconds} s per run`);

  // Warm both, then alternate bare and agent runs and report the median of each.
  await load(`http://127.0.0.1:${bare.port}${path}`, {});
  await load(`http://127.0.0.1:${agent.port}${path}`, { authorization: SERVER_SECRET });
  const runs = { bare: [] as { rps: number; p99: number; errors: number }[], agent: [] as { rps: number; p99: number; errors: number }[] };
  for (let i = 0; i < 3; i++) {
    runs.bare.push(await load(`http://127.0.0.1:${bare.port}${path}`, {}));
    runs.agent.push(await load(`http://127.0.0.1:${agent.port}${path}`, { authorization: SERVER_SECRET }));
  }
  const median = (list: { rps: number; p99: number; errors: number }[]) => [...list].sort((x, y) => x.rps - y.rps)[1]!;
  const b = median(runs.bare);
  const a = median(runs.agent);
  console.log(`runs (req/s): bare ${runs.bare.map((r) => r.rps.toFixed(0)).join(', ')}; agent ${runs.agent.map((r) => r.rps.toFixed(0)).join(', ')}`);
  console.log(`bare node:http      ${b.rps.toFixed(0).padStart(7)} req/s  p99 ${b.p99} ms  errors ${b.errors}`);
  console.log(`agent latest-all    ${a.rps.toFixed(0).padStart(7)} req/s  p99 ${a.p99} ms  errors ${a.errors}`);
  console.log(`ratio agent/bare    ${(a.rps / b.rps).toFixed(2)}  (target ≥ 0.75)`);
  await agent.stop();
  await bare.stop();
}

await main();
