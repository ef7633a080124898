import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { RedisFlagStore } from '../../src/store/redis/redis-flag-store.js';
import type { RedisStoreOptions } from '../../src/store/flag-store.js';
import { parseBootstrap, parseItems } from '../../src/store/data-set.js';
import { describeFlagStoreContract } from './store/flag-store.contract.js';
import { freshPrefix } from '../support/redis.js';
import { OwnRedisCluster } from '../support/redis-topologies.js';
import { AgentProcess } from '../support/agent-process.js';
import { postBootstrap } from '../support/agent-app.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { describeRedisInsightQueueContract, storeClient } from './insight-queues.contract.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('Redis Cluster (three masters)', () => {
  let cluster: OwnRedisCluster;
  const options = (podId: string, keyPrefix: string): RedisStoreOptions => ({
    url: '',
    clusterNodes: cluster.hostPorts,
    keyPrefix,
    podId,
    leaseMs: 1000,
    commandTimeoutMs: 1000,
    reconcileIntervalMs: 1000,
  });

  before(async () => {
    cluster = await OwnRedisCluster.start();
  });
  after(async () => {
    await cluster.stop();
  });

  describeFlagStoreContract('RedisFlagStore (Cluster)', async () => {
    const store = await RedisFlagStore.connect(options('contract', freshPrefix()));
    await store.ping();
    return { store, cleanup: () => Promise.resolve() };
  });

  describeRedisInsightQueueContract('Cluster', () => storeClient(options('insights', freshPrefix())));

  it('keeps every key of one prefix on one slot, and carries changes between pods', async () => {
    const prefix = freshPrefix();
    // The timer (60 s here) cannot be what carries the changes: the notifications must.
    const a = await RedisFlagStore.connect({ ...options('pod-a', prefix), reconcileIntervalMs: 60_000 });
    const b = await RedisFlagStore.connect({ ...options('pod-b', prefix), reconcileIntervalMs: 60_000 });
    const admin = new Cluster(cluster.hostPorts);
    try {
      assert.equal(a.prefix, `{${prefix}}`);
      await a.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: true });
      await until(() => b.data.env(ENV_ID)?.flags.size === 6);
      await b.applyPatch(parseItems('flag', [{ id: 'cluster-flag', envId: ENV_ID, key: 'cluster-flag', updatedAt: '2030-01-01T00:00:00Z' }], 'test'));
      await until(() => a.data.env(ENV_ID)?.flags.has('cluster-flag') === true);
      // Every key the store wrote lives on the slot of the prefix's hash tag.
      const slot = Number(await admin.cluster('KEYSLOT', `${a.prefix}current`));
      const keys: string[] = [];
      for (const node of cluster.nodes) {
        const client = node.connect();
        keys.push(...(await client.keys(`${a.prefix}*`)));
        client.disconnect();
      }
      assert.ok(keys.length >= 8, `keys: ${keys.join(', ')}`);
      for (const key of keys) assert.equal(Number(await admin.cluster('KEYSLOT', key)), slot, key);
      // Sharded pub/sub: both pods subscribe to the change channel on the shard owning the slot.
      const counts = await Promise.all(
        cluster.nodes.map(async (node) => {
          const client = node.connect();
          try {
            return Number(((await client.call('PUBSUB', 'SHARDNUMSUB', `${a.prefix}changes`)) as [string, number])[1]);
          } finally {
            client.disconnect();
          }
        }),
      );
      assert.deepEqual([...counts].sort(), [0, 0, 2]);
      assert.equal([a, b].filter((s) => s.leadership.isLeader).length, 1);
    } finally {
      admin.disconnect();
      await a.close();
      await b.close();
    }
  });

  it('runs agent processes configured by REDIS_CLUSTER_NODES: a bootstrap through one pod reaches the other', async () => {
    const prefix = freshPrefix();
    const env = { MODE: 'offline', STORE: 'redis', REDIS_CLUSTER_NODES: cluster.nodeList, REDIS_KEY_PREFIX: prefix, LEADER_LEASE_SECONDS: '1' };
    const first = await AgentProcess.start({ ...env, AGENT_ID: 'cluster-a' });
    const second = await AgentProcess.start({ ...env, AGENT_ID: 'cluster-b' });
    try {
      const body = sampleBootstrap();
      body.items[0]!.featureFlags = body.items[0]!.featureFlags.slice(0, 3);
      assert.equal((await postBootstrap(first.httpUrl, body)).status, 200);
      await second.until(async () => {
        const response = await fetch(`${second.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
        return response.status === 200 && ((await response.json()) as { data: { featureFlags: unknown[] } }).data.featureFlags.length === 3;
      });
      for (const agent of [first, second]) assert.equal((await agent.readiness())[1], 'Healthy');
    } finally {
      await first.kill();
      await second.kill();
    }
  });

  it('carries insights through the stream on the prefix slot: what either pod accepts reaches FeatBit', async (t) => {
    const prefix = freshPrefix();
    const fake = await FakeFeatBitServer.start();
    const env = { MODE: 'offline', STORE: 'redis', REDIS_CLUSTER_NODES: cluster.nodeList, REDIS_KEY_PREFIX: prefix, LEADER_LEASE_SECONDS: '1', EVENT_URI: fake.httpUrl };
    const agents = [await AgentProcess.start({ ...env, AGENT_ID: 'insights-a' }), await AgentProcess.start({ ...env, AGENT_ID: 'insights-b' })];
    const admin = new Cluster(cluster.hostPorts);
    try {
      assert.equal((await postBootstrap(agents[0]!.httpUrl, sampleBootstrap())).status, 200);
      for (const agent of agents) await agent.until(async () => (await agent.readiness())[0] === 200);
      const sent: string[] = [];
      for (let round = 0; round < 6; round++) {
        const keys = Array.from({ length: 20 }, (_, i) => `${prefix}${round}-${i}`);
        const response = await fetch(`${agents[round % 2]!.httpUrl}/api/public/insight/track`, {
          method: 'POST',
          headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
          body: JSON.stringify(keys.map((keyId) => ({ user: { keyId } }))),
        });
        assert.equal(response.status, 200);
        sent.push(...keys);
      }
      const delivered = (): string[] =>
        fake.insights.flatMap((r) => (r.body as { user?: { keyId: string } }[]).map((i) => i.user?.keyId ?? '')).filter((k) => k.startsWith(prefix));
      await agents[0]!.until(() => Promise.resolve(new Set(delivered()).size === sent.length), 20_000);
      t.diagnostic(`delivered ${delivered().length} of ${sent.length} accepted (${delivered().length - new Set(delivered()).size} twice)`);
      const stream = `{${prefix}}insights`;
      assert.equal(await admin.exists(stream), 1);
      assert.equal(Number(await admin.cluster('KEYSLOT', stream)), Number(await admin.cluster('KEYSLOT', `{${prefix}}current`)));
      const groups = (await admin.xinfo('GROUPS', stream)) as unknown[][];
      assert.equal(groups.length, 1);
    } finally {
      admin.disconnect();
      for (const agent of agents) await agent.kill();
      await fake.stop();
    }
  });
});
