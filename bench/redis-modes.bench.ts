/**
 * Cross-pod change latency in each Redis mode, with real agent processes: an upstream change
 * enters the leader pod (from a fake FeatBit) and is timed to its arrival at SDK sockets on a
 * follower pod (p50/p99). Modes: one server, TLS with an ACL user, Sentinel, three-master Cluster.
 * Usage: node .test-build/bench/redis-modes.bench.js [--changes 100] [--modes single,tls,sentinel,cluster]
 */
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { AgentProcess } from '../test/support/agent-process.js';
import { OwnRedis, freePort, freshPrefix } from '../test/support/redis.js';
import { OwnRedisCluster, OwnRedisSentinels } from '../test/support/redis-topologies.js';
import { makeCertificates } from '../test/support/tls-certs.js';
import { FakeFeatBitServer } from '../test/support/fake-featbit/fake-featbit-server.js';
import { SdkSocket } from '../test/support/sdk-socket.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../test/support/sample-data.js';
import { percentile } from './support/child.js';

const { values } = parseArgs({ options: { changes: { type: 'string', default: '100' }, modes: { type: 'string', default: 'single,tls,sentinel,cluster' } } });

interface Mode {
  env: Record<string, string>;
  stop(): Promise<void>;
}

const MODES: Record<string, () => Promise<Mode>> = {
  single: async () => {
    const redis = await OwnRedis.start();
    return { env: { REDIS_URL: redis.url }, stop: () => redis.stop() };
  },
  tls: async () => {
    const certs = makeCertificates();
    const port = await freePort();
    const redis = await OwnRedis.start(port, {
      args: ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.caCert,
        '--tls-auth-clients', 'yes', '--user', 'default', 'off', '--user', 'agent', 'on', '>bench-pw', '~*', '&*', '+@all'],
      client: { username: 'agent', password: 'bench-pw', tls: { ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey), servername: certs.serverName } },
    });
    return {
      env: {
        REDIS_URL: `rediss://127.0.0.1:${port}`, REDIS_USERNAME: 'agent', REDIS_PASSWORD: 'bench-pw', REDIS_TLS_CA_FILE: certs.caCert,
        REDIS_TLS_CERT_FILE: certs.clientCert, REDIS_TLS_KEY_FILE: certs.clientKey, REDIS_TLS_SERVERNAME: certs.serverName,
      },
      stop: async () => {
        await redis.stop();
        rmSync(certs.dir, { recursive: true, force: true });
      },
    };
  },
  sentinel: async () => {
    const set = await OwnRedisSentinels.start();
    return { env: { REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_MASTER: set.masterName }, stop: () => set.stop() };
  },
  cluster: async () => {
    const cluster = await OwnRedisCluster.start();
    return { env: { REDIS_CLUSTER_NODES: cluster.nodeList }, stop: () => cluster.stop() };
  },
};

async function crossPod(name: string, changes: number): Promise<void> {
  const mode = await MODES[name]!();
  const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
  const env = { MODE: 'agent', STORE: 'redis', ...mode.env, REDIS_KEY_PREFIX: freshPrefix(), LEADER_LEASE_SECONDS: '5', STREAMING_URI: fake.streamingUrl, LOG_LEVEL: 'error' };
  const pods = [await AgentProcess.start({ ...env, AGENT_ID: 'pod-a' }), await AgentProcess.start({ ...env, AGENT_ID: 'pod-b' })];
  try {
    for (const pod of pods) await pod.until(async () => (await pod.readiness())[0] === 200, 20_000);
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
      await Promise.all(
        arrivals.map(async (arrival) => {
          await arrival;
          latencies.push(performance.now() - start);
        }),
      );
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `cross-pod on ${name.padEnd(8)} ${changes} changes × ${sockets.length} sockets: ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${percentile(latencies, 100).toFixed(1)} ms`,
    );
    for (const s of sockets) s.close();
  } finally {
    for (const pod of pods) await pod.kill();
    await fake.stop();
    await mode.stop();
  }
}

for (const name of (values.modes ?? '').split(',').filter((m) => m in MODES)) await crossPod(name, Number(values.changes));
process.exit(0);
