import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postBootstrap } from '../support/agent-app.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { FbClientBuilder, UserBuilder, type IFbClient } from '@featbit/node-server-sdk';
import { AgentProcess } from '../support/agent-process.js';
import { OwnRedis, freshPrefix, freePort } from '../support/redis.js';
import { OwnRedisCluster, OwnRedisSentinels } from '../support/redis-topologies.js';
import { makeCertificates } from '../support/tls-certs.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

const user = new UserBuilder('u-1001').build();

async function sdkOn(agent: AgentProcess): Promise<IFbClient> {
  const client = new FbClientBuilder().sdkKey(SERVER_SECRET).streamingUri(agent.wsUrl).eventsUri(agent.httpUrl).logLevel('none').build();
  await client.waitForInitialization();
  return client;
}

function updated(client: IFbClient, key: string): Promise<void> {
  return new Promise((resolve) => client.on(`update:${key}`, () => resolve()));
}

/** Waits until the SDK evaluates `key` to `expected` (several pushes may arrive on the way). */
async function becomes(client: IFbClient, key: string, expected: boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await client.boolVariation(key, user, !expected)) !== expected) {
    if (Date.now() > end) throw new Error(`${key} did not become ${expected} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A Redis topology the agent cluster runs on: the agents' environment and how to tear it down. */
interface Topology {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The cluster behaviours every Redis topology must keep (one server, TLS with an ACL user, a
 * three-master Cluster, Sentinel). `more` adds tests that need the topology's own handle.
 */
function describeAgentCluster<T extends Topology>(name: string, start: () => Promise<T>, more?: (ctx: { topology: () => T; agents: AgentProcess[]; sdks: IFbClient[]; prefix: string; fake: () => FakeFeatBitServer }) => void): void {
  describe(name, () => {
    let topology: T;
    let fake: FakeFeatBitServer;
    const agents: AgentProcess[] = [];
    const sdks: IFbClient[] = [];
    const prefix = freshPrefix();

    before(async () => {
      topology = await start();
      fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
      for (let i = 0; i < 3; i++) {
        agents.push(
          await AgentProcess.start({
            MODE: 'agent',
            STORE: 'redis',
            ...topology.env,
            REDIS_KEY_PREFIX: prefix,
            LEADER_LEASE_SECONDS: '1',
            STREAMING_URI: fake.streamingUrl,
            AGENT_ID: `pod-${i}`,
          }),
        );
      }
      for (const agent of agents) await agent.until(async () => (await agent.readiness())[0] === 200);
      for (const agent of agents) sdks.push(await sdkOn(agent));
    });

    after(async () => {
      for (const sdk of sdks) await sdk.close();
      for (const agent of agents) await agent.kill();
      await fake.stop();
      await topology.stop();
    });

    it('keeps one upstream connection for the whole cluster, with one leader', async () => {
      const roles = await Promise.all(agents.map(async (a) => (await a.status())['role']));
      assert.deepEqual([...roles].sort(), ['follower', 'follower', 'leader']);
      assert.equal(fake.openSockets, 1);
      assert.equal(new Set(fake.registrations.map((r) => r.agentId)).size, 1);
    });

    it('delivers an upstream change to the SDKs of every pod', async () => {
      const seen = sdks.map((sdk) => updated(sdk, 'dark-mode'));
      fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: true, updatedAt: new Date().toISOString() });
      await Promise.all(seen);
      for (const sdk of sdks) assert.equal(await sdk.boolVariation('dark-mode', user, false), true);
    });

    it('delivers a bootstrap made through one pod to the SDKs of every pod', async () => {
      const body = sampleBootstrap();
      const flag = body.items[0]!.featureFlags.find((f) => f['key'] === 'welcome-text')!;
      flag['isEnabled'] = false;
      flag['updatedAt'] = new Date(Date.now() + 60_000).toISOString();
      const seen = sdks.map((sdk) => updated(sdk, 'welcome-text'));
      const response = await postBootstrap(agents[2]!.httpUrl, body);
      assert.equal(response.status, 200);
      await Promise.all(seen);
      for (const sdk of sdks) assert.equal(await sdk.stringVariation('welcome-text', user, 'x'), 'Hello');
    });

    it('hands upstream sync to another pod within a lease period when the leader dies', async () => {
      const statuses = await Promise.all(agents.map((a) => a.status()));
      const leaderAt = statuses.findIndex((s) => s['role'] === 'leader');
      const reconnected = fake.waitFor('connection', () => true, 10_000);
      const killedAt = Date.now();
      await agents[leaderAt]!.kill();
      await reconnected;
      const takeoverMs = Date.now() - killedAt;
      assert.ok(takeoverMs < 3000, `took over in ${takeoverMs} ms`);
      const survivors = agents.filter((_, i) => i !== leaderAt);
      const survivorSdks = sdks.filter((_, i) => i !== leaderAt);
      await survivors[0]!.until(async () => (await Promise.all(survivors.map((a) => a.status()))).some((s) => s['role'] === 'leader'));
      agents.splice(leaderAt, 1);
      await sdks.splice(leaderAt, 1)[0]!.close();
      // The new leader re-syncs first (FeatBit still has dark-mode on), then a live change follows.
      for (const sdk of survivorSdks) await becomes(sdk, 'dark-mode', true);
      fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: false, updatedAt: new Date().toISOString() });
      for (const sdk of survivorSdks) await becomes(sdk, 'dark-mode', false);
    });

    more?.({ topology: () => topology, agents, sdks, prefix, fake: () => fake });
  });
}

describeAgentCluster('a cluster of agents on one Redis', async () => {
  const redis = await OwnRedis.start();
  return { redis, env: { REDIS_URL: redis.url }, stop: () => redis.stop() };
}, ({ topology, agents, sdks, prefix }) => {
  it('keeps serving while Redis is down, and writes the data back when Redis restarts empty', async () => {
    await topology().redis.stop();
    for (const agent of agents) {
      await agent.until(async () => (await agent.status())['storeHealthy'] === false);
      const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
      assert.equal(response.status, 200);
      assert.deepEqual(await agent.readiness(), [200, 'Degraded']);
    }
    for (const sdk of sdks) assert.equal(await sdk.boolVariation('dark-mode', user, true), false);
    await topology().redis.restart();
    const client = new Redis(topology().redis.url);
    try {
      await agents[0]!.until(async () => (await client.get(`${prefix}current`)) !== null, 15_000);
      const gen = await client.get(`${prefix}current`);
      assert.equal(await client.hlen(`${prefix}g:${gen}:items`), 7);
    } finally {
      client.disconnect();
    }
    for (const agent of agents) await agent.until(async () => (await agent.readiness())[1] === 'Healthy', 15_000);
  });
});

describeAgentCluster('a cluster of agents on Redis over TLS with an ACL user', async () => {
  const certs = makeCertificates();
  const port = await freePort();
  const redis = await OwnRedis.start(port, {
    args: ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.caCert,
      '--tls-auth-clients', 'yes', '--user', 'default', 'off', '--user', 'agent', 'on', '>cluster-Secret-1', '~*', '&*', '+@all'],
    client: { username: 'agent', password: 'cluster-Secret-1', tls: { ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey), servername: certs.serverName } },
  });
  const env = {
    REDIS_URL: `rediss://127.0.0.1:${port}`,
    REDIS_USERNAME: 'agent',
    REDIS_PASSWORD: 'cluster-Secret-1',
    REDIS_TLS_CA_FILE: certs.caCert,
    REDIS_TLS_CERT_FILE: certs.clientCert,
    REDIS_TLS_KEY_FILE: certs.clientKey,
    REDIS_TLS_SERVERNAME: certs.serverName,
  };
  return { env, stop: async () => { await redis.stop(); rmSync(certs.dir, { recursive: true, force: true }); } };
});

describeAgentCluster('a cluster of agents on a three-master Redis Cluster', async () => {
  const cluster = await OwnRedisCluster.start();
  return { env: { REDIS_CLUSTER_NODES: cluster.nodeList }, stop: () => cluster.stop() };
});

describeAgentCluster(
  'a cluster of agents on a Sentinel-managed master and replica',
  async () => {
    const sentinels = await OwnRedisSentinels.start();
    return { sentinels, env: { REDIS_SENTINELS: sentinels.sentinelList, REDIS_SENTINEL_MASTER: sentinels.masterName }, stop: () => sentinels.stop() };
  },
  ({ topology, sdks, fake }) => {
    it('fails over in the middle: a change made after the master dies reaches the SDKs of every pod', async () => {
      await topology().sentinels.replicaInSync();
      await topology().sentinels.failover();
      const flag = fake().flag(ENV_ID, 'dark-mode') ?? {};
      const next = flag['isEnabled'] !== true;
      fake().upsertFlag(ENV_ID, { ...flag, isEnabled: next, updatedAt: new Date().toISOString() });
      for (const sdk of sdks) await becomes(sdk, 'dark-mode', next, 20_000);
    });
  },
);

describe('an agent on SQLite', () => {
  it('serves its last data at once after a restart while FeatBit is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-sqlite-'));
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    const env = { MODE: 'agent', STORE: 'sqlite', SQLITE_PATH: join(dir, 'featbit.db'), STREAMING_URI: fake.streamingUrl, AGENT_ID: 'sqlite-agent' };
    let agent = await AgentProcess.start(env);
    try {
      await agent.until(async () => (await agent.readiness())[0] === 200);
      await agent.kill();
      await fake.stop();
      // FeatBit is down; nothing listens on its port any more.
      agent = await AgentProcess.start({ ...env, STREAMING_URI: `ws://127.0.0.1:${await freePort()}` });
      const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { data: { featureFlags: unknown[] } };
      assert.equal(body.data.featureFlags.length, 6);
      assert.equal((await agent.readiness())[0], 200);
      const sdk = await sdkOn(agent);
      assert.equal(await sdk.boolVariation('new-checkout', new UserBuilder('u-0001').build(), false), true);
      await sdk.close();
    } finally {
      await agent.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
