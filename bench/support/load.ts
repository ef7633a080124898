/**
 * The HTTP comparison every polling benchmark uses: bare node:http, a one-route Nest + fastify app
 * (the framework ceiling) and the agent, each in its own process on the server core, each serving
 * the same bytes, loaded in turn by `wrk` on the other core. Rounds alternate the three targets;
 * medians of the rounds are compared.
 *
 * Each run also reads the server's own CPU time (`process.cpuUsage()`, over IPC) before and after
 * and divides by the responses wrk completed: CPU-µs per request. On a shared machine req/s moves
 * with whatever else runs on the core; the CPU a server spends per request barely does, so the
 * ratio of CPU per request (ceiling ÷ agent) is the figure to compare between changes.
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

/** A wrk run with the CPU the server spent on it. */
export interface MeasuredLoad extends LoadResult {
  /** Server CPU time (user + system) per completed response, in µs. */
  cpuUs: number;
}

export interface Comparison {
  bare: MeasuredLoad;
  nest: MeasuredLoad;
  agent: MeasuredLoad;
  runs: { bare: number[]; nest: number[]; agent: number[] };
  cpuRuns: { bare: number[]; nest: number[]; agent: number[] };
}

/** One wrk run against `server`, with the server's CPU time per response. */
export async function measuredLoad(server: ServerChild, target: HttpTarget, seconds: number, connections: number): Promise<MeasuredLoad> {
  const before = await server.cpu();
  const result = await wrk(target, seconds, connections);
  const after = await server.cpu();
  return { ...result, cpuUs: (after - before) / result.requests };
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
  const results: { bare: MeasuredLoad[]; nest: MeasuredLoad[]; agent: MeasuredLoad[] } = { bare: [], nest: [], agent: [] };
  const us = (r: MeasuredLoad): string => `${r.cpuUs.toFixed(1)} µs`;
  for (let round = 1; round <= options.rounds; round++) {
    const load = loadAverage();
    const b = await measuredLoad(bare, servers.bare, options.seconds, options.connections);
    const n = await measuredLoad(nest, servers.nest, options.seconds, options.connections);
    const a = await measuredLoad(agent, servers.agent, options.seconds, options.connections);
    results.bare.push(b);
    results.nest.push(n);
    results.agent.push(a);
    console.log(
      `  round ${round} (load ${load}): bare ${k(b.rps)}  nest+fastify ${k(n.rps)}  agent ${k(a.rps)} req/s  ` +
        `→ agent/bare ${(a.rps / b.rps).toFixed(2)}, agent/ceiling ${(a.rps / n.rps).toFixed(2)}; ` +
        `CPU per request bare ${us(b)}  nest+fastify ${us(n)}  agent ${us(a)} → ceiling/agent ${(n.cpuUs / a.cpuUs).toFixed(2)}`,
    );
  }
  const pick = (list: MeasuredLoad[]): MeasuredLoad => ({
    rps: median(list.map((r) => r.rps)),
    requests: list.reduce((sum, r) => sum + r.requests, 0),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    errors: list.reduce((sum, r) => sum + r.errors, 0),
    cpuUs: median(list.map((r) => r.cpuUs)),
  });
  const c: Comparison = {
    bare: pick(results.bare),
    nest: pick(results.nest),
    agent: pick(results.agent),
    runs: { bare: results.bare.map((r) => r.rps), nest: results.nest.map((r) => r.rps), agent: results.agent.map((r) => r.rps) },
    cpuRuns: { bare: results.bare.map((r) => r.cpuUs), nest: results.nest.map((r) => r.cpuUs), agent: results.agent.map((r) => r.cpuUs) },
  };
  const row = (label: string, r: MeasuredLoad): string =>
    `  ${label.padEnd(28)} ${k(r.rps).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}  ` +
    `vs bare ${(r.rps / c.bare.rps).toFixed(2)}  vs ceiling ${(r.rps / c.nest.rps).toFixed(2)}  ` +
    `CPU ${us(r).padStart(8)}/request (bare ÷ this ${(c.bare.cpuUs / r.cpuUs).toFixed(2)}, ceiling ÷ this ${(c.nest.cpuUs / r.cpuUs).toFixed(2)})`;
  console.log(`  medians of ${options.rounds}:`);
  console.log(row('bare node:http', c.bare));
  console.log(row('Nest+fastify @Res() ceiling', c.nest));
  console.log(row('agent', c.agent));
  const toCeiling = c.agent.rps / c.nest.rps;
  const cpuToCeiling = c.nest.cpuUs / c.agent.cpuUs;
  console.log(`  agent/ceiling ${toCeiling.toFixed(2)} (target ≥ ${targets.ceiling}: ${toCeiling >= targets.ceiling ? 'met' : 'NOT met'}); agent/bare ${(c.agent.rps / c.bare.rps).toFixed(2)}`);
  console.log(
    `  by CPU per request (steadier on a shared machine): ceiling/agent ${cpuToCeiling.toFixed(2)} ` +
      `(target ≥ ${targets.ceiling}: ${cpuToCeiling >= targets.ceiling ? 'met' : 'NOT met'}); bare/agent ${(c.bare.cpuUs / c.agent.cpuUs).toFixed(2)}`,
  );
  await bare.stop();
  await nest.stop();
  return c;
}
