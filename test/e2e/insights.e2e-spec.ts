import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FbClientBuilder, UserBuilder } from '@featbit/node-server-sdk';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { AgentProcess } from '../support/agent-process.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { CLIENT_SECRET, ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET } from '../support/sample-data.js';
import type { InsightsOptions } from '../../src/config/agent-config.js';
import { InsightsService } from '../../src/insights/insights.service.js';
import { ClientEvaluationService } from '../../src/client/client-evaluation.service.js';
import { encodeCompactGuid } from '../../src/credentials/compact-guid.js';
import { readdirSync, statSync } from 'node:fs';
import { pseudonym } from '../../src/insights/anonymizer.js';

type Insight = { user?: { keyId: string; name?: string; customizedProperties?: { name: string; value: string }[] }; variations?: unknown[]; metrics?: unknown[] };

function insightsOf(fake: FakeFeatBitServer): Insight[] {
  return fake.insights.flatMap((r) => r.body as Insight[]);
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function insightsConfig(fake: FakeFeatBitServer | undefined, insights: Partial<InsightsOptions>) {
  const mode = insights.mode ?? 'forward';
  return offlineConfig({
    eventUri: fake ? new URL(fake.httpUrl) : undefined,
    insightsMode: mode,
    insights: { mode, maxQueue: 100_000, keepProperties: [], dir: './insights', retentionDays: 30, ...insights },
  });
}

function post(agent: RunningAgent, body: unknown, secret = SERVER_SECRET): Promise<Response> {
  return fetch(`${agent.httpUrl}/api/public/insight/track`, { method: 'POST', headers: { authorization: secret, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const event = (i: number): Insight => ({
  user: { keyId: `user-${i}`, name: `Name ${i}`, customizedProperties: [{ name: 'country', value: 'us' }, { name: 'email', value: `user${i}@example.com` }] },
  variations: [{ featureFlagKey: 'dark-mode', sendToExperiment: false, timestamp: Date.now(), variation: { id: 'v', value: 'false' } }],
});

describe(InsightsService.name, () => {
  let fake: FakeFeatBitServer;
  before(async () => {
    fake = await FakeFeatBitServer.start();
  });
  after(async () => {
    await fake.stop();
  });

  it('forwards evaluations and track() events of the real node SDK with the right Authorization', async () => {
    fake.insights.length = 0;
    const agent = await startAgent(insightsConfig(fake, { mode: 'forward' }));
    try {
      const client = new FbClientBuilder().sdkKey(SERVER_SECRET).streamingUri(agent.wsUrl).eventsUri(agent.httpUrl).logLevel('none').build();
      await client.waitForInitialization();
      const user = new UserBuilder('u-1001').name('Ann').custom('country', 'us').build();
      await client.boolVariation('new-checkout', user, false);
      await client.stringVariation('welcome-text', user, 'x');
      client.track(user, 'checkout-completed', 3);
      await client.flush();
      await eventually(() => insightsOf(fake).some((i) => (i.metrics?.length ?? 0) > 0) && insightsOf(fake).filter((i) => (i.variations?.length ?? 0) > 0).length >= 2);
      assert.ok(fake.insights.every((r) => r.authorization === SERVER_SECRET));
      await client.close();

      // End users presented over client WebSocket data-sync become user-only insights.
      const sdk = SdkSocket.forSecret(agent.wsUrl, 'client', CLIENT_SECRET);
      await sdk.opened;
      sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'ws-user', name: 'Wes' } } });
      await sdk.next();
      await eventually(() => insightsOf(fake).some((i) => i.user?.keyId === 'ws-user' && i.variations?.length === 0));
      sdk.close();
    } finally {
      await agent.close();
    }
  });

  it('loses nothing while FeatBit is down for seconds, and answers SDKs at once meanwhile', async () => {
    fake.insights.length = 0;
    fake.setInsightStatus(503);
    const agent = await startAgent(insightsConfig(fake, { mode: 'forward' }));
    try {
      let sent = 0;
      for (let round = 0; round < 20; round++) {
        const batch = Array.from({ length: 25 }, (_, i) => event(round * 25 + i));
        const response = await post(agent, batch);
        assert.equal(response.status, 200);
        sent += batch.length;
      }
      const service = agent.app.get(InsightsService);
      await eventually(() => (service.forwarder?.stats.retried ?? 0) > 0);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(insightsOf(fake).length, 0);
      fake.setInsightStatus(200);
      await eventually(() => insightsOf(fake).length >= sent);
      assert.equal(insightsOf(fake).length, sent);
      assert.equal(new Set(insightsOf(fake).map((i) => i.user?.keyId)).size, sent);
    } finally {
      fake.setInsightStatus(200);
      await agent.close();
    }
  });

  it('anonymises: no raw keyId, name or unlisted property in any forwarded byte', async () => {
    fake.insights.length = 0;
    const agent = await startAgent(insightsConfig(fake, { mode: 'anonymize', hashKey: 'secret-hash-key', keepProperties: ['country'] }));
    try {
      const batch = Array.from({ length: 10 }, (_, i) => event(i));
      assert.equal((await post(agent, batch)).status, 200);
      await eventually(() => insightsOf(fake).length >= 10);
      const bytes = JSON.stringify(fake.insights.map((r) => r.body));
      for (let i = 0; i < 10; i++) {
        assert.ok(!bytes.includes(`user-${i}"`), 'raw keyId leaked');
        assert.ok(!bytes.includes(`Name ${i}`), 'name leaked');
        assert.ok(!bytes.includes(`user${i}@example.com`), 'unlisted property leaked');
      }
      assert.ok(!bytes.includes('"email"'));
      const first = insightsOf(fake).find((x) => x.user?.keyId === pseudonym('user-0', 'secret-hash-key'));
      assert.ok(first, 'the pseudonym is the HMAC of the keyId, stable across events');
      assert.deepEqual(first.user?.customizedProperties, [{ name: 'country', value: 'us' }]);
      assert.equal(first.variations?.length, 1);
    } finally {
      await agent.close();
    }
  });

  it('keeps insights local, exports them as NDJSON, and expires them after the retention period', async () => {
    fake.insights.length = 0;
    const dir = mkdtempSync(join(tmpdir(), 'insights-local-'));
    const agent = await startAgent(insightsConfig(undefined, { mode: 'local', dir, retentionDays: 7 }));
    try {
      assert.equal((await post(agent, [event(1), event(2)])).status, 200);
      const url = `${agent.httpUrl}/api/public/proxy/insights?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`;
      assert.equal((await fetch(url)).status, 401);
      let lines: { envId: string; insight: Insight }[] = [];
      await eventually(async () => {
        const response = await fetch(url, { headers: { authorization: RELAY_PROXY_KEY } });
        lines = (await response.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { envId: string; insight: Insight });
        return lines.length === 2;
      });
      assert.deepEqual(lines.map((l) => [l.envId, l.insight.user?.keyId]), [['0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605', 'user-1'], ['0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605', 'user-2']]);
      const service = agent.app.get(InsightsService);
      assert.equal(await service.purgeExpired(new Date(Date.now() + 3 * 86_400_000)), 0);
      assert.ok((await service.purgeExpired(new Date(Date.now() + 9 * 86_400_000))) > 0);
      const after = await (await fetch(url, { headers: { authorization: RELAY_PROXY_KEY } })).text();
      assert.equal(after, '');
      assert.equal(insightsOf(fake).length, 0, 'local mode forwards nothing');
    } finally {
      await agent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed bodies with 400 and queues nothing', async () => {
    const agent = await startAgent(insightsConfig(fake, { mode: 'forward' }));
    try {
      for (const body of [{ user: {} }, [1, 2], 'text', [[]]]) assert.equal((await post(agent, body)).status, 400);
      assert.equal(await agent.app.get(InsightsService).queue.depth(), 0);
    } finally {
      await agent.close();
    }
  });

  it('delivers a pending SQLite queue after an agent restart', async () => {
    fake.insights.length = 0;
    const dir = mkdtempSync(join(tmpdir(), 'insights-sqlite-'));
    const port = fake.port;
    await fake.pause();
    const env = { MODE: 'offline', STORE: 'sqlite', SQLITE_PATH: join(dir, 'featbit.db'), EVENT_URI: `http://127.0.0.1:${port}`, DATA_FILE: join(process.cwd(), 'data', 'sample-bootstrap.json') };
    let agent = await AgentProcess.start(env);
    try {
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`${agent.httpUrl}/api/public/insight/track`, {
          method: 'POST',
          headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
          body: JSON.stringify(Array.from({ length: 25 }, (_, k) => event(i * 25 + k))),
        });
        assert.equal(response.status, 200);
      }
      await agent.kill('SIGTERM');
      await fake.resume();
      agent = await AgentProcess.start(env);
      await eventually(() => insightsOf(fake).length >= 100, 15_000);
      assert.equal(new Set(insightsOf(fake).map((i) => i.user?.keyId)).size, 100);
    } finally {
      await agent.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('hostile intake (issue 11)', () => {
    /** Well-formed but invented: 22 arbitrary characters and the compact id of a public environment. */
    const forged = `${'Z'.repeat(22)}${encodeCompactGuid(ENV_ID)}`;
    /** The end-user dedup map's bound (END_USER_DEDUP_BYTES, documented in the README). */
    const END_USER_DEDUP_BYTES = 8 * 1024 * 1024;
    const big = (i: number, bytes: number): Insight => ({ user: { keyId: `big-${i}`, name: 'n'.repeat(bytes) } });

    it('refuses a forged but well-formed secret with 401 once data is held (a large name changes nothing), accepts it before the first data', async () => {
      assert.equal(forged.length, 44);
      const agent = await startAgent(insightsConfig(fake, { mode: 'forward' }));
      try {
        const service = agent.app.get(InsightsService);
        assert.equal((await post(agent, [big(1, 60_000)], forged)).status, 401);
        assert.equal((await post(agent, [event(1)], forged)).status, 401);
        assert.equal(await service.queue.depth(), 0);
        assert.equal((await post(agent, [event(1)], CLIENT_SECRET)).status, 200, 'a client secret the agent holds is fine');
      } finally {
        await agent.close();
      }
      const empty = await startAgent({ ...insightsConfig(fake, { mode: 'forward' }), dataFile: undefined });
      try {
        assert.equal((await post(empty, [event(1)], forged)).status, 200, 'no data yet: any well-formed secret');
      } finally {
        await empty.close();
      }
    });

    it('refuses an event larger than INSIGHTS_MAX_EVENT_BYTES with 400 and keeps nothing of the request', async () => {
      const agent = await startAgent(insightsConfig(fake, { mode: 'forward', maxEventBytes: 8 * 1024 }));
      try {
        fake.setInsightStatus(503);
        const response = await post(agent, [event(1), big(2, 9 * 1024)]);
        assert.equal(response.status, 400);
        assert.match(await response.text(), /INSIGHTS_MAX_EVENT_BYTES/);
        assert.equal(await agent.app.get(InsightsService).queue.depth(), 0);
        assert.equal((await post(agent, [big(3, 7 * 1024)])).status, 200);
      } finally {
        fake.setInsightStatus(200);
        await agent.close();
      }
    });

    it('refuses an event nested too deeply to serialise with 400 and keeps nothing (was a 500, an error logged per request)', async () => {
      const agent = await startAgent(insightsConfig(fake, { mode: 'forward' }));
      try {
        fake.setInsightStatus(503);
        // Well under the body limit: JSON.parse takes any depth, JSON.stringify overflows the stack.
        const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
        const response = await fetch(`${agent.httpUrl}/api/public/insight/track`, {
          method: 'POST',
          headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
          body: `[${JSON.stringify(event(1)).slice(0, -1)},"extra":${deep}}]`,
        });
        assert.equal(response.status, 400);
        assert.match(await response.text(), /nested too deeply/);
        assert.equal(await agent.app.get(InsightsService).queue.depth(), 0);
        assert.equal((await post(agent, [event(2)])).status, 200);
      } finally {
        fake.setInsightStatus(200);
        await agent.close();
      }
    });

    it('a flood of large valid events keeps the queue within INSIGHTS_MAX_QUEUE_BYTES: oldest dropped, counted', async () => {
      fake.insights.length = 0;
      fake.setInsightStatus(503);
      const maxQueueBytes = 2 * 1024 * 1024;
      const agent = await startAgent(insightsConfig(fake, { mode: 'forward', maxQueueBytes, maxEventBytes: 64 * 1024 }));
      try {
        const service = agent.app.get(InsightsService);
        let sent = 0;
        for (let round = 0; round < 40; round++) {
          const batch = Array.from({ length: 10 }, (_, i) => big(round * 10 + i, 60_000));
          assert.equal((await post(agent, batch)).status, 200);
          sent += batch.length;
          assert.ok((await service.queue.bytes()) <= maxQueueBytes, `queue holds ${await service.queue.bytes()} bytes`);
        }
        // 400 events of 60 kB (24 MB) sent; about 34 fit.
        const depth = await service.queue.depth();
        assert.ok(depth > 0 && depth <= Math.floor(maxQueueBytes / 60_000), `depth ${depth}`);
        assert.equal(service.queue.dropped, sent - depth);
        const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
        assert.match(metrics, new RegExp(`featbit_agent_insights_dropped_total ${sent - depth}\\b`));
        assert.match(metrics, /featbit_agent_insight_queue_bytes \d+/);
      } finally {
        fake.setInsightStatus(200);
        await agent.close();
      }
    });

    it('bounds the end-user dedup map in bytes (an LRU)', async () => {
      fake.setInsightStatus(503);
      const agent = await startAgent(insightsConfig(fake, { mode: 'forward', maxQueue: 100 }));
      try {
        const clients = agent.app.get(ClientEvaluationService);
        const service = agent.app.get(InsightsService);
        const longKey = 'k'.repeat(400);
        // Eviction walks the map with one iterator per pass, not one per user: V8 walks every
        // hole deletions left at the front of a Map from the start of each new iterator.
        const keys = Object.getOwnPropertyDescriptor(Map.prototype, 'keys')!;
        let iterators = 0;
        Object.defineProperty(Map.prototype, 'keys', {
          ...keys,
          value: function <K, V>(this: Map<K, V>): MapIterator<K> {
            iterators++;
            return (keys.value as (this: Map<K, V>) => MapIterator<K>).call(this);
          },
        });
        try {
          for (let i = 0; i < 20_000; i++) clients.httpUser(ENV_ID, { keyId: `${longKey}-${i}`, name: 'n' });
        } finally {
          Object.defineProperty(Map.prototype, 'keys', keys);
        }
        assert.ok(iterators < 100, `${iterators} Map iterators for 20,000 users`);
        assert.ok(service.dedupBytes <= END_USER_DEDUP_BYTES, `dedup map at ${service.dedupBytes} bytes`);
        assert.ok(service.dedupBytes > END_USER_DEDUP_BYTES / 2);
        // Least recently seen first: a user seen again is kept, the one after it is evicted.
        const recent = `${longKey}-19999`;
        const before = service.accepted;
        clients.httpUser(ENV_ID, { keyId: recent, name: 'n' });
        assert.equal(service.accepted, before, 'a user seen lately is not reported again');
        clients.httpUser(ENV_ID, { keyId: `${longKey}-0`, name: 'n' });
        assert.equal(service.accepted, before + 1, 'an evicted user is reported again');
      } finally {
        fake.setInsightStatus(200);
        await agent.close();
      }
    });

    it('keeps local NDJSON files within INSIGHTS_LOCAL_MAX_BYTES: newer insights refused and counted', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'insights-local-bound-'));
      const localMaxBytes = 256 * 1024;
      const agent = await startAgent(insightsConfig(undefined, { mode: 'local', dir, localMaxBytes }));
      try {
        const service = agent.app.get(InsightsService);
        for (let round = 0; round < 20; round++) assert.equal((await post(agent, [big(round * 2, 20_000), big(round * 2 + 1, 20_000)])).status, 200);
        await eventually(() => service.local.dropped > 0);
        const bytes = readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
        assert.ok(bytes <= localMaxBytes, `files hold ${bytes} bytes`);
        assert.ok(bytes > localMaxBytes / 2);
      } finally {
        await agent.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
