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
import { OwnRedis, freshPrefix } from '../test/support/redis.js';
import { FakeFeatBitServer } from '../test/support/fake-featbit/fake-featbit-server.js';
import { SdkSocket } from '../test/support/sdk-socket.js';
import { ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../test/support/sample-data.js';
import { benchBootstrap } from './support/bench-data.js';
import { percentile } from './support/child.js';

const { values } = parseArgs({
  options: { changes: { type: 'string', default: '200' }, flags: { type: 'string', default: '10000' }, short: { type: 'boolean', default: false } },
});

async function crossPod(changes: number): Promise<void> {
  const redis = await OwnRedis.start();
  const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
  const env = { MODE: 'agent', STORE: 'redis', REDIS_URL: redis.url, REDIS_KEY_PREFIX: freshPrefix(), LEADER_LEASE_SECONDS: '5', STREAMING_URI: fake.streamingUrl, LOG_LEVEL: 'error' };
  const pods = [await AgentProcess.start({ ...env, AGENT_ID: 'pod-a' }), await AgentProcess.start({ ...env, AGENT_ID: 'pod-b' })];
  for (const pod of pods) await pod.until(async () => (await pod.readiness())[0] === 200);
  const roles = await Promise.all(pods.map(async (p) => (await p.status())['role']));
  const follower = pods[roles.indexOf('follower')]!;
  const sockets: SdkSocket[] = [];
  for (let i = 0; i < 10; i++) {
    const sdk = SdkSocket.forSecret(follower.wsUrl, 'server', SERVER_SECRET);
    await sdk.opened;
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    await sdk.next();
    sockets.push(sdk);
  }
  const base = fake.flag(ENV_ID, 'dark-mode')!;
  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    const arrivals = sockets.map((s) => s.next(5000));
    const start = performance.now();
    fake.upsertFlag(ENV_ID, { ...base, isEnabled: i % 2 === 0, updatedAt: new Date(Date.parse('2027-01-01T00:00:00Z') + i * 1000).toISOString() });
    await Promise.all(arrivals.map(async (arrival) => {
      await arrival;
      latencies.push(performance.now() - start);
    }));
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `cross-pod (upstream patch → leader → Redis → follower → SDK socket), ${changes} changes × ${sockets.length} sockets: ` +
      `p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${percentile(latencies, 100).toFixed(1)} ms  (target p99 ≤ 100 ms)`,
  );
  for (const s of sockets) s.close();
  for (const pod of pods) await pod.kill();
  await fake.stop();
  await redis.stop();
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
