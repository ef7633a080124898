import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcess } from '../support/agent-process.js';
import { OwnRedis, freshPrefix } from '../support/redis.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { CLIENT_SECRET, ENV_ID, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

/**
 * Redis faults with real agent processes on a redis-server of the test's own. The bound each
 * scenario waits for is the one the README's operations section states.
 */

/** A request that does not answer within this is a hung agent (readiness's own bound is 0.9 s). */
const REQUEST_BOUND_MS = 2000;

function agentEnv(redisUrl: string, streamingUrl: string, prefix: string, id: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODE: 'agent',
    STORE: 'redis',
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    LEADER_LEASE_SECONDS: '1',
    REDIS_COMMAND_TIMEOUT_MS: '300',
    RECONCILE_INTERVAL_SECONDS: '30',
    STREAMING_URI: streamingUrl,
    AGENT_ID: id,
    ...extra,
  };
}

/** What the pod serves for `key` to server SDKs (polling), or undefined. */
async function served(agent: AgentProcess, key: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, {
    headers: { authorization: SERVER_SECRET },
    signal: AbortSignal.timeout(REQUEST_BOUND_MS),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { data: { featureFlags: Record<string, unknown>[] } };
  return body.data.featureFlags.find((f) => f['key'] === key);
}

async function clientSecretAccepted(agent: AgentProcess): Promise<boolean> {
  const response = await fetch(`${agent.httpUrl}/api/public/sdk/client/latest-all`, {
    method: 'POST',
    headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' },
    body: JSON.stringify({ keyId: 'u-1001', name: 'u-1001', customizedProperties: [] }),
    signal: AbortSignal.timeout(REQUEST_BOUND_MS),
  });
  await response.arrayBuffer();
  return response.status !== 401;
}

async function readiness(agent: AgentProcess): Promise<[number, string]> {
  const response = await fetch(`${agent.httpUrl}/health/readiness`, { signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
  return [response.status, await response.text()];
}

async function roles(agents: AgentProcess[]): Promise<unknown[]> {
  return Promise.all(agents.map(async (a) => (await a.status())['role']));
}

function setDarkMode(fake: FakeFeatBitServer, enabled: boolean): void {
  fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: enabled, updatedAt: new Date().toISOString() });
}

async function allServe(agents: AgentProcess[], key: string, enabled: boolean, timeoutMs: number): Promise<void> {
  for (const agent of agents) await agent.until(async () => (await served(agent, key))?.['isEnabled'] === enabled, timeoutMs);
}

describe('chaos: Redis hangs (SIGSTOP, then SIGCONT)', () => {
  let redis: OwnRedis;
  let fake: FakeFeatBitServer;
  const agents: AgentProcess[] = [];

  before(async () => {
    redis = await OwnRedis.start();
    fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    const prefix = freshPrefix();
    for (let i = 0; i < 3; i++) agents.push(await AgentProcess.start(agentEnv(redis.url, fake.streamingUrl, prefix, `hang-${i}`)));
    for (const agent of agents) await agent.until(async () => (await readiness(agent))[0] === 200);
  });

  after(async () => {
    redis.resume();
    for (const agent of agents) await agent.kill();
    await fake.stop();
    await redis.stop();
  });

  it('answers readiness within its bound with 200 Degraded, keeps serving, and converges after SIGCONT', async (t) => {
    redis.pause();
    for (const agent of agents) {
      // A hung Redis must not hang the probe: every pod can still serve from memory.
      await agent.until(async () => {
        const [status, text] = await readiness(agent);
        return status === 200 && text === 'Degraded';
      });
      assert.equal((await served(agent, 'dark-mode'))?.['isEnabled'], false);
      await agent.until(async () => ((await agent.status())['store'] as { state: string }).state === 'timing-out');
    }
    // A change upstream while Redis hangs.
    setDarkMode(fake, true);
    redis.resume();
    const resumedAt = Date.now();
    // Bound: a lease period for a leader to (re)take the lease and resync, plus one reconcile.
    await allServe(agents, 'dark-mode', true, 10_000);
    t.diagnostic(`every pod served the change ${Date.now() - resumedAt} ms after SIGCONT`);
    for (const agent of agents) await agent.until(async () => (await readiness(agent))[1] === 'Healthy', 10_000);
    const leaders = (await roles(agents)).filter((r) => r === 'leader');
    assert.equal(leaders.length, 1);
  });
});

describe('chaos: subscribers dropped (CLIENT KILL TYPE pubsub), then a change', () => {
  let redis: OwnRedis;
  let fake: FakeFeatBitServer;
  const agents: AgentProcess[] = [];

  before(async () => {
    redis = await OwnRedis.start();
    fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    const prefix = freshPrefix();
    // The periodic reconcile (30 s) is not what rescues the followers here: the re-subscribe is.
    for (let i = 0; i < 3; i++) agents.push(await AgentProcess.start(agentEnv(redis.url, fake.streamingUrl, prefix, `pubsub-${i}`)));
    for (const agent of agents) await agent.until(async () => (await readiness(agent))[0] === 200);
    await agents[0]!.until(async () => (await roles(agents)).includes('leader'));
  });

  after(async () => {
    for (const agent of agents) await agent.kill();
    await fake.stop();
    await redis.stop();
  });

  it('serves the change on every pod within the bound, although its message was published while no pod was subscribed', async (t) => {
    const admin = redis.client();
    try {
      const killed = (await admin.client('KILL', 'TYPE', 'pubsub')) as number;
      assert.ok(killed >= agents.length, `killed ${killed} subscribers`);
      // Published by the leader before any subscriber is back (they reconnect after ≥ 200 ms).
      const changedAt = Date.now();
      setDarkMode(fake, true);
      // Bound: reconnect backoff (0.2 s) plus one reconcile; far below the 30 s timer.
      await allServe(agents, 'dark-mode', true, 10_000);
      t.diagnostic(`every pod served the change ${Date.now() - changedAt} ms after it was published`);
    } finally {
      admin.disconnect();
    }
  });
});

describe('chaos: the leader is partitioned from Redis and FeatBit, another pod leads, then the partition heals', () => {
  let redis: OwnRedis;
  let fake: FakeFeatBitServer;
  let redisProxy: TcpProxy;
  let upstreamProxy: TcpProxy;
  let stale: AgentProcess;
  const others: AgentProcess[] = [];

  before(async () => {
    redis = await OwnRedis.start();
    fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    redisProxy = await TcpProxy.start(redis.port);
    upstreamProxy = await TcpProxy.start(Number(new URL(fake.streamingUrl).port));
    const prefix = freshPrefix();
    stale = await AgentProcess.start(
      agentEnv(`redis://127.0.0.1:${redisProxy.port}`, `ws://127.0.0.1:${upstreamProxy.port}${new URL(fake.streamingUrl).pathname}`, prefix, 'partitioned', {
        RECONCILE_INTERVAL_SECONDS: '2',
      }),
    );
    await stale.until(async () => (await stale.status())['role'] === 'leader');
    for (let i = 0; i < 2; i++) others.push(await AgentProcess.start(agentEnv(redis.url, fake.streamingUrl, prefix, `healthy-${i}`, { RECONCILE_INTERVAL_SECONDS: '2' })));
    for (const agent of [stale, ...others]) await agent.until(async () => (await readiness(agent))[0] === 200);
    assert.equal((await stale.status())['role'], 'leader');
  });

  after(async () => {
    for (const agent of [stale, ...others]) await agent.kill();
    await redisProxy.stop();
    await upstreamProxy.stop();
    await fake.stop();
    await redis.stop();
  });

  it('does not let the stale leader write its data back over the new leader\'s (a revoked secret stays revoked)', async (t) => {
    redisProxy.cut();
    // A change reaches the partitioned leader while it still holds its upstream socket: its
    // Redis write fails and the change is kept in its memory.
    setDarkMode(fake, true);
    await stale.until(async () => (await served(stale, 'dark-mode'))?.['isEnabled'] === true || (await stale.status())['role'] !== 'leader');
    // The operator sees it: status and metrics mark the cut-off pod's copy as stale.
    await stale.until(async () => ((await stale.status())['store'] as { stale: boolean; state: string }).stale === true);
    await stale.until(async () => /^featbit_agent_store_stale 1$/m.test(await (await fetch(`${stale.httpUrl}/metrics`)).text()));
    upstreamProxy.cut();
    // While the old leader is cut off, the client secret is revoked in FeatBit.
    const revoked = sampleBootstrap();
    revoked.items[0]!.secrets = revoked.items[0]!.secrets.filter((s) => s['type'] !== 'client');
    revoked.items[0]!.featureFlags = revoked.items[0]!.featureFlags.map((f) => (f['key'] === 'dark-mode' ? (fake.flag(ENV_ID, 'dark-mode') ?? f) : f));
    fake.setData(revoked);
    // Another pod takes the lease, resyncs from FeatBit and writes the new data.
    await others[0]!.until(async () => (await roles(others)).includes('leader'), 10_000);
    for (const agent of others) await agent.until(async () => !(await clientSecretAccepted(agent)), 10_000);
    await allServe(others, 'dark-mode', true, 10_000);

    redisProxy.heal();
    upstreamProxy.heal();
    const healedAt = Date.now();
    // The stale pod adopts what the new leader wrote instead of writing its own copy back.
    await stale.until(async () => !(await clientSecretAccepted(stale)), 10_000);
    t.diagnostic(`the stale pod served the new leader's data ${Date.now() - healedAt} ms after the partition healed`);
    assert.equal((await served(stale, 'dark-mode'))?.['isEnabled'], true);
    await stale.until(async () => ((await stale.status())['store'] as { stale: boolean }).stale === false, 10_000);
    for (const agent of others) assert.equal(await clientSecretAccepted(agent), false);
    const all = await roles([stale, ...others]);
    assert.deepEqual(all.filter((r) => r === 'leader').length, 1, `roles: ${JSON.stringify(all)}`);
  });
});
