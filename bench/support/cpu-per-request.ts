/**
 * CPU time per request of server latest-all, for comparing changes on a shared machine: req/s
 * moves with whatever else runs on the core, the CPU a server spends per request barely does.
 * Starts bare node:http, the one-route Nest + fastify ceiling and the agent (each pinned to core 0,
 * each serving the same bytes), plus, with `--baseline DIR`, the agent of another build (DIR is its
 * `.test-build`, e.g. a copy of this one made before a change). Alternating rounds: each target
 * gets `wrk` (core 1) for `--seconds`, its CPU time (`process.cpuUsage()`, over IPC) is read before
 * and after and divided by the responses wrk completed. Prints every round and the medians.
 * Usage: node .test-build/bench/support/cpu-per-request.js [--rounds 7] [--seconds 3] [--connections 100]
 *        [--flags 8] [--baseline DIR]...
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SERVER_SECRET } from '../../test/support/sample-data.js';
import { benchDataFile } from './bench-data.js';
import { startServerChild, type ServerChild } from './child.js';
import { measuredLoad, type MeasuredLoad } from './load.js';
import { loadAverage, median } from './pinned.js';
import { wrk, type HttpTarget } from './wrk.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    flags: { type: 'string', default: '8' },
    baseline: { type: 'string', multiple: true, default: [] },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const path = '/api/public/sdk/server/latest-all';
const headers = { authorization: SERVER_SECRET };

const { dir, file: dataFile } = benchDataFile(Number(values.flags), 'cpu');

interface Target {
  name: string;
  server: ServerChild;
  http: HttpTarget;
  runs: MeasuredLoad[];
}

const targets: Target[] = [];
const add = (name: string, server: ServerChild): void => {
  targets.push({ name, server, http: { url: `http://127.0.0.1:${server.port}${path}`, method: 'GET', headers }, runs: [] });
};
const agent = await startServerChild('agent', dataFile);
const answer = await fetch(`http://127.0.0.1:${agent.port}${path}`, { headers });
if (answer.status !== 200) throw new Error(`agent answered ${answer.status}`);
const bytes = Buffer.from(await answer.arrayBuffer());
const bodyFile = join(dir, 'body.json');
writeFileSync(bodyFile, bytes);
add('bare node:http', await startServerChild('bare-http', bodyFile));
add('Nest+fastify ceiling', await startServerChild('nest-ceiling', bodyFile, {}, ['GET', path]));
add('agent', agent);
for (const build of values.baseline) {
  add(`agent ${build}`, await startServerChild('agent', dataFile, {}, [], join(resolve(build), 'bench/support/server-process.js')));
}
for (const t of targets) {
  const r = await fetch(t.http.url, { headers });
  const b = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200 || !b.equals(bytes)) throw new Error(`${t.name} does not answer the same bytes (${r.status}, ${b.length} bytes)`);
}

console.log(
  `CPU per request, GET ${path}: ${bytes.length} bytes per answer; wrk -t1 -c${connections} -d${seconds}s on core 1, ` +
    `servers on core 0, ${rounds} alternating rounds (load ${loadAverage()})`,
);
for (const t of targets) await wrk(t.http, 2, connections);
for (let round = 1; round <= rounds; round++) {
  const line: string[] = [];
  for (const t of targets) {
    const r = await measuredLoad(t.server, t.http, seconds, connections);
    t.runs.push(r);
    line.push(`${t.name} ${r.cpuUs.toFixed(1)}`);
  }
  console.log(`  round ${round} (load ${loadAverage()}): µs/request ${line.join('  ')}`);
}
const cpu = (t: Target): number => median(t.runs.map((r) => r.cpuUs));
const [bare, ceiling] = [cpu(targets[0]!), cpu(targets[1]!)];
console.log(`  medians of ${rounds}:`);
for (const t of targets) {
  const us = cpu(t);
  const rps = median(t.runs.map((r) => r.rps));
  console.log(
    `  ${t.name.padEnd(28)} ${us.toFixed(1).padStart(6)} CPU-µs/request  (bare ÷ this ${(bare / us).toFixed(2)}, ceiling ÷ this ${(ceiling / us).toFixed(2)}; ` +
      `${(rps / 1000).toFixed(1)}k req/s, errors ${t.runs.reduce((s, r) => s + r.errors, 0)})`,
  );
}
for (const t of targets) await t.server.stop();
