/**
 * Storage benchmarks with real agent processes:
 *  1. cross-pod latency: an upstream change enters the leader pod (from a fake FeatBit) and is
 *     timed to its arrival at SDK sockets on a follower pod sharing Redis (p50/p99);
 *  2. start-up from a SQLite file holding 10,000 flags: process start to serving them all.
 * Targets: cross-pod p99 ≤ 100 ms; start-up ≤ 2 s.
 * Usage: node .test-build/bench/cluster.bench.js [--changes 200] [--flags 10000] [--short]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { AgentProcess } from '../test/support/agent-process.js';
import { OwnRedis } from '../test/support/redis.js';
import { RELAY_PROXY_KEY, SERVER_SECRET } from '../test/support/sample-data.js';
import { benchBootstrap } from './support/bench-data.js';
import { crossPodLatency } from './support/cross-pod.js';

const { values } = parseArgs({
  options: { changes: { type: 'string', default: '200' }, flags: { type: 'string', default: '10000' }, short: { type: 'boolean', default: false } },
});

async function crossPod(changes: number): Promise<void> {
  const redis = await OwnRedis.start();
  try {
    console.log(`${await crossPodLatency('cross-pod (upstream patch → leader → Redis → follower → SDK socket)', { REDIS_URL: redis.url }, changes)}  (target p99 ≤ 100 ms)`);
  } finally {
    await redis.stop();
  }
}

async function sqliteStartup(flags: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sqlite-'));
  const env = { MODE: 'offline', STORE: 'sqlite', SQLITE_PATH: join(dir, 'featbit.db'), LOG_LEVEL: 'error' };
  const first = await AgentProcess.start(env);
  const response = await fetch(`${first.httpUrl}/api/public/proxy/bootstrap`, {
    method: 'POST',
    headers: { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(benchBootstrap(flags - 6)),
  });
  if (response.status !== 200) throw new Error(`bootstrap answered ${response.status}`);
  await first.kill('SIGTERM');
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const agent = await AgentProcess.start(env);
    await agent.until(async () => {
      const r = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
      if (r.status !== 200) return false;
      return ((await r.json()) as { data: { featureFlags: unknown[] } }).data.featureFlags.length === flags;
    }, 30_000);
    runs.push(performance.now() - start);
    await agent.kill('SIGTERM');
  }
  console.log(`start-up from SQLite with ${flags} flags (process spawn → serving them all): ${runs.map((r) => `${(r / 1000).toFixed(2)} s`).join(', ')}  (target ≤ 2 s)`);
  rmSync(dir, { recursive: true, force: true });
}

await crossPod(values.short ? 50 : Number(values.changes));
await sqliteStartup(Number(values.flags));
process.exit(0);
