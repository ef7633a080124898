/**
 * Cross-pod change latency in each Redis mode, with real agent processes: an upstream change
 * enters the leader pod (from a fake FeatBit) and is timed to its arrival at SDK sockets on a
 * follower pod (p50/p99). Modes: one server, TLS with an ACL user, Sentinel, three-master Cluster.
 * Usage: node .test-build/bench/redis-modes.bench.js [--changes 100] [--modes single,tls,sentinel,cluster]
 */
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OwnRedis, freePort } from '../test/support/redis.js';
import { OwnRedisCluster, OwnRedisSentinels } from '../test/support/redis-topologies.js';
import { makeCertificates } from '../test/support/tls-certs.js';
import { crossPodLatency } from './support/cross-pod.js';

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
  try {
    console.log(await crossPodLatency(`cross-pod on ${name}`, mode.env, changes));
  } finally {
    await mode.stop();
  }
}

for (const name of (values.modes ?? '').split(',').filter((m) => m in MODES)) await crossPod(name, Number(values.changes));
process.exit(0);
