import { performance } from 'node:perf_hooks';
import { AgentProcess } from '../../test/support/agent-process.js';
import { freshPrefix } from '../../test/support/redis.js';
import { FakeFeatBitServer } from '../../test/support/fake-featbit/fake-featbit-server.js';
import { SdkSocket } from '../../test/support/sdk-socket.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../../test/support/sample-data.js';
import { percentile } from './child.js';

/**
 * Cross-pod change latency: two agent processes share Redis (`redisEnv` says how to reach it); an
 * upstream change enters the leader from a fake FeatBit and is timed to its arrival at 10 SDK
 * sockets on the follower. Returns the line to print.
 */
export async function crossPodLatency(label: string, redisEnv: Record<string, string>, changes: number): Promise<string> {
  const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
  const env = { MODE: 'agent', STORE: 'redis', ...redisEnv, REDIS_KEY_PREFIX: freshPrefix(), LEADER_LEASE_SECONDS: '5', STREAMING_URI: fake.streamingUrl, LOG_LEVEL: 'error' };
  const pods = [await AgentProcess.start({ ...env, AGENT_ID: 'pod-a' }), await AgentProcess.start({ ...env, AGENT_ID: 'pod-b' })];
  const sockets: SdkSocket[] = [];
  try {
    for (const pod of pods) await pod.until(async () => (await pod.readiness())[0] === 200, 20_000);
    const roles = await Promise.all(pods.map(async (p) => (await p.status())['role']));
    const follower = pods[roles.indexOf('follower')]!;
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
      await Promise.all(
        arrivals.map(async (arrival) => {
          await arrival;
          latencies.push(performance.now() - start);
        }),
      );
    }
    latencies.sort((a, b) => a - b);
    return (
      `${label}, ${changes} changes × ${sockets.length} sockets: ` +
      `p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${percentile(latencies, 100).toFixed(1)} ms`
    );
  } finally {
    for (const s of sockets) s.close();
    for (const pod of pods) await pod.kill();
    await fake.stop();
  }
}
