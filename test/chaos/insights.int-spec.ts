import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import sqlite3 from 'sqlite3';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { AgentProcess } from '../support/agent-process.js';
import { OwnRedis, REDIS_URL, deleteKeys, freshPrefix } from '../support/redis.js';
import { offlineConfig, startAgent } from '../support/agent-app.js';
import { SAMPLE_DATA_FILE, SERVER_SECRET } from '../support/sample-data.js';
import { InsightsService } from '../../src/insights/insights.service.js';

/**
 * Insight delivery under faults (issue 12): every event accepted with 200 is delivered exactly once
 * to (fake) FeatBit or counted as dropped, and no fault makes the agent exit or stop for good.
 */

type Insight = { user?: { keyId: string; name?: string } };

const event = (key: string, pad = 0): Insight => ({ user: { keyId: key, name: 'x'.repeat(pad) } });

/** Keys delivered to the fake, of this test only (a request a previous agent abandoned may still land). */
function delivered(fake: FakeFeatBitServer, prefix: string): string[] {
  return fake.insights.flatMap((r) => (r.body as Insight[]).map((i) => i.user?.keyId ?? '')).filter((k) => k.startsWith(prefix));
}

function assertOnce(keys: string[]): void {
  const seen = new Set<string>();
  const twice = keys.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
  assert.deepEqual(twice, [], 'delivered more than once');
}

async function post(httpUrl: string, events: Insight[]): Promise<number> {
  const response = await fetch(`${httpUrl}/api/public/insight/track`, {
    method: 'POST',
    headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A metric's value from /metrics (first series matching `labels`), or NaN when absent. */
async function metric(httpUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const offlineEnv = (fake: FakeFeatBitServer, extra: Record<string, string> = {}): Record<string, string> => ({
  MODE: 'offline',
  DATA_FILE: SAMPLE_DATA_FILE,
  EVENT_URI: fake.httpUrl,
  ...extra,
});

describe('insights under faults', () => {
  let fake: FakeFeatBitServer;
  before(async () => {
    fake = await FakeFeatBitServer.start();
  });
  after(async () => {
    await fake.stop();
  });
  const reset = (): void => {
    fake.insights.length = 0;
    fake.setInsightStatus(200);
    fake.setInsightResponder(undefined);
  };

  it('FLUSHALL under insight load: the group is re-created; each accepted event is delivered once or counted as dropped', async () => {
    reset();
    const redis = await OwnRedis.start();
    const agent = await AgentProcess.start(offlineEnv(fake, { STORE: 'redis', REDIS_URL: redis.url }));
    const admin = new Redis(redis.url);
    try {
      let accepted = 0;
      for (let round = 0; round < 40; round++) {
        const events = Array.from({ length: 25 }, (_, i) => event(`f-${round}-${i}`));
        if ((await post(agent.httpUrl, events)) === 200) accepted += events.length;
        if (round === 15) await admin.flushall();
      }
      await eventually(
        async () => delivered(fake, 'f-').length + (await metric(agent.httpUrl, 'featbit_agent_insights_dropped_total')) >= accepted,
        'every accepted event delivered or counted as dropped',
      );
      const dropped = await metric(agent.httpUrl, 'featbit_agent_insights_dropped_total');
      assertOnce(delivered(fake, 'f-'));
      assert.equal(delivered(fake, 'f-').length + dropped, accepted);
      // Still delivering after the flush.
      assert.equal(await post(agent.httpUrl, [event('f-after-flush')]), 200);
      await eventually(() => delivered(fake, 'f-').includes('f-after-flush'), 'an event sent after the flush delivered');
    } finally {
      admin.disconnect();
      await agent.kill();
      await redis.stop();
    }
  });

  it('trimming under a long outage: pending entries trimmed away are acknowledged and counted; delivery resumes', async () => {
    reset();
    fake.setInsightStatus(503);
    const prefix = freshPrefix();
    const agent = await startAgent(
      offlineConfig({
        eventUri: new URL(fake.httpUrl),
        insightsMode: 'forward',
        store: { type: 'redis', url: REDIS_URL, keyPrefix: prefix, podId: 'pod-trim', leaseMs: 5000 },
        insights: { mode: 'forward', maxQueue: 60, keepProperties: [], dir: './insights', retentionDays: 30 },
      }),
      { insightTimings: { idleMs: 50, timeoutMs: 2000, backoffBaseMs: 50, backoffCapMs: 200, batchSize: 20 } },
    );
    const service = agent.app.get(InsightsService);
    try {
      let accepted = 0;
      for (let round = 0; round < 20; round++) {
        const events = Array.from({ length: 10 }, (_, i) => event(`t-${round}-${i}`));
        assert.equal(await post(agent.httpUrl, events), 200);
        accepted += events.length;
        // The forwarder holds a batch pending (taken, refused, released) while later writes trim it away.
        if (round === 2) await eventually(() => (service.forwarder?.stats.retried ?? 0) > 0, 'a refused delivery');
      }
      await service.queue.flush();
      assert.ok(service.queue.dropped > 0, 'the outage overflowed the bound');
      fake.setInsightStatus(200);
      await eventually(async () => delivered(fake, 't-').length + service.queue.dropped >= accepted && (await service.queue.depth()) === 0, 'delivery resumed');
      assertOnce(delivered(fake, 't-'));
      assert.equal(delivered(fake, 't-').length + service.queue.dropped, accepted);
    } finally {
      fake.setInsightStatus(200);
      await agent.close();
      await deleteKeys(REDIS_URL, prefix);
    }
  });

  it('SQLite acknowledgement failure (another connection holds the write lock): retried without exit, nothing sent twice', async () => {
    reset();
    const dir = mkdtempSync(join(tmpdir(), 'insights-chaos-'));
    const file = join(dir, 'featbit.db');
    const agent = await AgentProcess.start(offlineEnv(fake, { STORE: 'sqlite', SQLITE_PATH: file, SQLITE_BUSY_TIMEOUT_MS: '200' }));
    const locker = new sqlite3.Database(file);
    const exec = (sql: string): Promise<void> => new Promise((resolve, reject) => locker.exec(sql, (error) => (error ? reject(error) : resolve())));
    let locked = false;
    try {
      // The first delivery is answered only once another connection holds the write lock: its acknowledgement fails.
      fake.setInsightResponder(async () => {
        if (!locked) {
          locked = true;
          await exec('BEGIN IMMEDIATE');
        }
        return 200;
      });
      const events = Array.from({ length: 50 }, (_, i) => event(`s-${i}`));
      assert.equal(await post(agent.httpUrl, events), 200);
      await agent.until(async () => (await metric(agent.httpUrl, 'featbit_agent_insights_ack_retries_total')) >= 1, 20_000);
      await exec('ROLLBACK');
      await agent.until(async () => (await metric(agent.httpUrl, 'featbit_agent_insight_queue_depth')) === 0, 20_000);
      assert.equal(await post(agent.httpUrl, [event('s-after')]), 200);
      await agent.until(() => Promise.resolve(delivered(fake, 's-').includes('s-after')), 10_000);
      assertOnce(delivered(fake, 's-'));
      assert.equal(delivered(fake, 's-').length, 51);
    } finally {
      await new Promise<void>((resolve) => locker.close(() => resolve()));
      await agent.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM with a backlog (memory queue): the request in flight completes and the backlog is delivered before exit', async () => {
    reset();
    let inFlight = 0;
    fake.setInsightResponder(async () => {
      inFlight++;
      await new Promise((resolve) => setTimeout(resolve, 800));
      return 200;
    });
    const agent = await AgentProcess.start(offlineEnv(fake, { SHUTDOWN_TIMEOUT_SECONDS: '20' }));
    try {
      const keys: string[] = [];
      for (let round = 0; round < 6; round++) {
        const events = Array.from({ length: 250 }, (_, i) => event(`m-${round}-${i}`));
        assert.equal(await post(agent.httpUrl, events), 200);
        keys.push(...events.map((e) => e.user?.keyId ?? ''));
      }
      await eventually(() => inFlight > 0, 'a delivery in flight');
      await agent.kill('SIGTERM');
      assertOnce(delivered(fake, 'm-'));
      assert.deepEqual(new Set(delivered(fake, 'm-')), new Set(keys));
    } finally {
      await agent.kill();
    }
  });

  for (const store of ['sqlite', 'redis'] as const) {
    it(`SIGTERM with a backlog (${store}) during a slow delivery: the request in flight completes, the rest is persisted and delivered once after the restart`, async () => {
      reset();
      let inFlight = 0;
      fake.setInsightResponder(async () => {
        inFlight++;
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return 200;
      });
      const dir = mkdtempSync(join(tmpdir(), 'insights-chaos-'));
      const prefix = freshPrefix();
      const env = offlineEnv(fake, store === 'sqlite' ? { STORE: 'sqlite', SQLITE_PATH: join(dir, 'featbit.db') } : { STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: prefix });
      let agent = await AgentProcess.start(env);
      try {
        const keys: string[] = [];
        for (let round = 0; round < 4; round++) {
          const events = Array.from({ length: 300 }, (_, i) => event(`p${store}-${round}-${i}`));
          assert.equal(await post(agent.httpUrl, events), 200);
          keys.push(...events.map((e) => e.user?.keyId ?? ''));
        }
        await eventually(() => inFlight > 0, 'a delivery in flight');
        await agent.kill('SIGTERM');
        fake.setInsightResponder(undefined);
        agent = await AgentProcess.start(env);
        await eventually(() => delivered(fake, `p${store}-`).length >= keys.length, 'backlog delivered after the restart', 40_000);
        await agent.until(async () => (await metric(agent.httpUrl, 'featbit_agent_insight_queue_depth')) === 0);
        assertOnce(delivered(fake, `p${store}-`));
        assert.deepEqual(new Set(delivered(fake, `p${store}-`)), new Set(keys));
      } finally {
        await agent.kill();
        rmSync(dir, { recursive: true, force: true });
        await deleteKeys(REDIS_URL, prefix);
      }
    });
  }

  it('404 from FeatBit (wrong EVENT_URI path): events stay queued, insights show Unhealthy in status and metrics, then deliver', async () => {
    reset();
    fake.setInsightStatus(404);
    const agent = await AgentProcess.start(offlineEnv(fake));
    try {
      const events = Array.from({ length: 40 }, (_, i) => event(`n-${i}`));
      assert.equal(await post(agent.httpUrl, events), 200);
      await agent.until(async () => (await agent.status())['insights'] === 'Unhealthy');
      assert.match(String((await agent.status())['insightsProblem']), /404/);
      assert.equal(await metric(agent.httpUrl, 'featbit_agent_insights_state', 'state="Unhealthy"'), 1);
      assert.equal(await metric(agent.httpUrl, 'featbit_agent_insight_queue_depth'), 40);
      assert.equal(await metric(agent.httpUrl, 'featbit_agent_insights_rejected_total'), 0);
      fake.setInsightStatus(200);
      await agent.until(() => Promise.resolve(delivered(fake, 'n-').length >= 40), 40_000);
      await agent.until(async () => (await agent.status())['insights'] === 'Healthy');
      assertOnce(delivered(fake, 'n-'));
      assert.equal(delivered(fake, 'n-').length, 40);
    } finally {
      fake.setInsightStatus(200);
      await agent.kill();
    }
  });

  it('413 from FeatBit splits the batch until the parts fit; every event delivered once', async () => {
    reset();
    const limit = 16 * 1024;
    fake.setInsightResponder(({ bytes }) => (bytes > limit ? 413 : 200));
    const agent = await AgentProcess.start(offlineEnv(fake));
    try {
      const events = Array.from({ length: 200 }, (_, i) => event(`b-${i}`, 500));
      assert.equal(await post(agent.httpUrl, events), 200);
      await agent.until(() => Promise.resolve(delivered(fake, 'b-').length >= 200));
      assertOnce(delivered(fake, 'b-'));
      assert.equal(delivered(fake, 'b-').length, 200);
      assert.ok(fake.insights.every((r) => JSON.stringify(r.body).length <= limit));
      assert.ok((await metric(agent.httpUrl, 'featbit_agent_insights_split_total')) > 0);
      assert.equal(await metric(agent.httpUrl, 'featbit_agent_insights_rejected_total'), 0);
    } finally {
      await agent.kill();
    }
  });

  it('a poison event FeatBit keeps refusing (400) is isolated by bisection and dropped alone, counted', async () => {
    reset();
    const poisoned = (body: unknown): boolean => Array.isArray(body) && (body as Insight[]).some((i) => i.user?.keyId === 'q-poison');
    fake.setInsightResponder(({ body }) => (poisoned(body) ? 400 : 200));
    const agent = await AgentProcess.start(offlineEnv(fake));
    try {
      const events = Array.from({ length: 120 }, (_, i) => event(i === 77 ? 'q-poison' : `q-${i}`));
      assert.equal(await post(agent.httpUrl, events), 200);
      await agent.until(async () => (await metric(agent.httpUrl, 'featbit_agent_insights_rejected_total')) === 1);
      await agent.until(() => Promise.resolve(delivered(fake, 'q-').length >= 119));
      assertOnce(delivered(fake, 'q-'));
      assert.equal(delivered(fake, 'q-').length, 119);
      assert.ok(!delivered(fake, 'q-').includes('q-poison'));
      assert.equal(await metric(agent.httpUrl, 'featbit_agent_insight_queue_depth'), 0);
    } finally {
      await agent.kill();
    }
  });
});
