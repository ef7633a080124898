/**
 * The HTTP comparison every polling benchmark uses: bare node:http, a one-route Nest + fastify app
 * (the framework ceiling) and the agent, each in its own process on the server core, each serving
 * the same bytes, loaded in turn by `wrk` on the other core. Rounds alternate the three targets;
 * medians of the rounds are compared.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServerChild, type ServerChild } from './child.js';
import { loadAverage, median } from './pinned.js';
import { wrk, type HttpTarget, type LoadResult } from './wrk.js';

export type { HttpTarget, LoadResult } from './wrk.js';
export { wrk as load } from './wrk.js';

export interface HttpOptions {
  seconds: number;
  connections: number;
  rounds: number;
}

/** `--seconds`, `--connections`, `--rounds` and `--short` (2 s runs) shared by the HTTP benchmarks. */
export function httpOptions(extra: Record<string, { type: 'string'; default: string }> = {}): { options: HttpOptions; values: Record<string, string> } {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '8' },
      connections: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      short: { type: 'boolean', default: false },
      ...extra,
    },
  });
  const short = values.short === true;
  const options = {
    seconds: short ? 2 : Number(values.seconds),
    connections: Number(values.connections),
    rounds: short ? Math.min(3, Number(values.rounds)) : Number(values.rounds),
  };
  return { options, values: values as unknown as Record<string, string> };
}

export interface Comparison {
  bare: LoadResult;
  nest: LoadResult;
  agent: LoadResult;
  runs: { bare: number[]; nest: number[]; agent: number[] };
}

const k = (rps: number): string => `${(rps / 1000).toFixed(1)}k`;

/**
 * Starts bare node:http and the Nest ceiling serving `bytes` (what the agent answered to `request`),
 * checks all three answer the same bytes, then alternates `rounds` runs of each and prints medians
 * and the ratios agent/bare and agent/ceiling. `agent` is a running agent child; `request` its
 * method, path, headers and body.
 */
export async function compareHttp(
  title: string,
  agent: ServerChild,
  request: { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string },
  options: HttpOptions,
  targets: { ceiling: number },
): Promise<Comparison> {
  const agentUrl = `http://127.0.0.1:${agent.port}${request.path}`;
  const answer = await fetch(agentUrl, { method: request.method, headers: request.headers, ...(request.body === undefined ? {} : { body: request.body }) });
  if (answer.status !== 200) throw new Error(`agent answered ${answer.status}: ${await answer.text()}`);
  const bytes = Buffer.from(await answer.arrayBuffer());
  const dir = mkdtempSync(join(tmpdir(), 'bench-http-'));
  const bodyFile = join(dir, 'body.json');
  writeFileSync(bodyFile, bytes);
  const bare = await startServerChild('bare-http', bodyFile);
  const nest = await startServerChild('nest-ceiling', bodyFile, {}, [request.method, request.path]);
  const target = (port: number): HttpTarget => ({
    url: `http://127.0.0.1:${port}${request.path}`,
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const servers = { bare: target(bare.port), nest: target(nest.port), agent: target(agent.port) };
  for (const [name, t] of Object.entries(servers)) {
    const r = await fetch(t.url, { method: request.method, headers: request.headers, ...(request.body === undefined ? {} : { body: request.body }) });
    const b = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200 || !b.equals(bytes)) throw new Error(`${name} does not answer the same bytes (${r.status}, ${b.length} bytes)`);
  }
  console.log(
    `${title}: ${bytes.length} bytes (${(bytes.length / 1024).toFixed(1)} KiB) per answer from all three; ` +
      `wrk -t1 -c${options.connections} -d${options.seconds}s on core 1, servers on core 0, ${options.rounds} alternating rounds`,
  );
  // Warm-up (JIT, connection pools), not counted.
  for (const t of Object.values(servers)) await wrk(t, Math.min(2, options.seconds), options.connections);
  const results: { bare: LoadResult[]; nest: LoadResult[]; agent: LoadResult[] } = { bare: [], nest: [], agent: [] };
  for (let round = 1; round <= options.rounds; round++) {
    const load = loadAverage();
    const b = await wrk(servers.bare, options.seconds, options.connections);
    const n = await wrk(servers.nest, options.seconds, options.connections);
    const a = await wrk(servers.agent, options.seconds, options.connections);
    results.bare.push(b);
    results.nest.push(n);
    results.agent.push(a);
    console.log(
      `  round ${round} (load ${load}): bare ${k(b.rps)}  nest+fastify ${k(n.rps)}  agent ${k(a.rps)} req/s  ` +
        `→ agent/bare ${(a.rps / b.rps).toFixed(2)}, agent/ceiling ${(a.rps / n.rps).toFixed(2)}`,
    );
  }
  const pick = (list: LoadResult[]): LoadResult => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((sum, r) => sum + r.errors, 0),
  });
  const c: Comparison = {
    bare: pick(results.bare),
    nest: pick(results.nest),
    agent: pick(results.agent),
    runs: { bare: results.bare.map((r) => r.rps), nest: results.nest.map((r) => r.rps), agent: results.agent.map((r) => r.rps) },
  };
  const row = (label: string, r: LoadResult): string =>
    `  ${label.padEnd(28)} ${k(r.rps).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  ` +
    `vs bare ${(r.rps / c.bare.rps).toFixed(2)}  vs ceiling ${(r.rps / c.nest.rps).toFixed(2)}`;
  console.log(`  medians of ${options.rounds}:`);
  console.log(row('bare node:http', c.bare));
  console.log(row('Nest+fastify @Res() ceiling', c.nest));
  console.log(row('agent', c.agent));
  const toCeiling = c.agent.rps / c.nest.rps;
  console.log(`  agent/ceiling ${toCeiling.toFixed(2)} (target ≥ ${targets.ceiling}: ${toCeiling >= targets.ceiling ? 'met' : 'NOT met'}); agent/bare ${(c.agent.rps / c.bare.rps).toFixed(2)}`);
  await bare.stop();
  await nest.stop();
  return c;
}
