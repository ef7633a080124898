import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { InsightQueue } from '../../src/insights/insight-queue.js';
import { MemoryInsightQueue } from '../../src/insights/memory-insight-queue.js';
import { SqliteInsightQueue } from '../../src/insights/sqlite-insight-queue.js';
import { RedisInsightQueue } from '../../src/insights/redis-insight-queue.js';
import { SqliteFlagStore } from '../../src/store/sqlite/sqlite-flag-store.js';
import { REDIS_URL, deleteKeys, freshPrefix } from '../support/redis.js';

const entry = (i: number, secret = 'secret-a') => ({ secret, insight: { user: { keyId: `u-${i}` } } });
const keys = (batch: { entries: { insight: Record<string, unknown> }[] } | null) => batch?.entries.map((e) => (e.insight['user'] as { keyId: string }).keyId) ?? [];

function describeQueue(name: string, make: (max: number) => Promise<{ queue: InsightQueue; cleanup: () => Promise<void> }>): void {
  describe(`${name} (InsightQueue contract)`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups) await c();
    });
    const queue = async (max = 1000) => {
      const made = await make(max);
      cleanups.push(async () => {
        await made.queue.close();
        await made.cleanup();
      });
      return made.queue;
    };

    it('hands out batches oldest first, one at a time, and forgets acknowledged ones', async () => {
      const q = await queue();
      q.push([entry(1), entry(2), entry(3, 'secret-b')]);
      await q.flush();
      const batch = await q.take(2);
      assert.deepEqual(keys(batch), ['u-1', 'u-2']);
      assert.equal(await q.take(2), null, 'one batch out at a time');
      await q.ack(batch!);
      const next = await q.take(10);
      assert.deepEqual(next?.entries.map((e) => e.secret), ['secret-b']);
      await q.ack(next);
      assert.equal(await q.take(10), null);
      assert.equal(await q.depth(), 0);
    });

    it('gives a released batch again', async () => {
      const q = await queue();
      q.push([entry(1), entry(2)]);
      await q.flush();
      const batch = await q.take(10);
      await q.release(batch!);
      assert.deepEqual(keys(await q.take(10)), ['u-1', 'u-2']);
    });

    it('is bounded: the oldest are dropped and counted', async () => {
      const q = await queue(5);
      q.push(Array.from({ length: 8 }, (_, i) => entry(i)));
      await q.flush();
      assert.ok(q.dropped >= 3, `dropped ${q.dropped}`);
      const depth = await q.depth();
      assert.ok(depth <= 6 && depth >= 5, `depth ${depth}`);
      const batch = await q.take(10);
      assert.ok(keys(batch).includes('u-7'));
      assert.ok(!keys(batch).includes('u-0'));
    });
  });
}

describeQueue(MemoryInsightQueue.name, (max) => Promise.resolve({ queue: new MemoryInsightQueue(max), cleanup: () => Promise.resolve() }));

describeQueue(SqliteInsightQueue.name, async (max) => {
  const dir = mkdtempSync(join(tmpdir(), 'insight-queue-'));
  const store = await SqliteFlagStore.open({ path: join(dir, 'featbit.db') });
  return {
    queue: new SqliteInsightQueue(store.dataSource, max),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeQueue(RedisInsightQueue.name, async (max) => {
  const prefix = freshPrefix();
  const redis = new Redis(REDIS_URL);
  return {
    queue: new RedisInsightQueue(redis, `${prefix}insights`, 'pod-1', max),
    cleanup: async () => {
      redis.disconnect();
      await deleteKeys(REDIS_URL, prefix);
    },
  };
});

describe(`${RedisInsightQueue.name} shared by pods`, () => {
  it('lets one pod deliver what another accepted, and claims what a dead pod had taken', async () => {
    const prefix = freshPrefix();
    const a = new Redis(REDIS_URL);
    const b = new Redis(REDIS_URL);
    try {
      const podA = new RedisInsightQueue(a, `${prefix}insights`, 'pod-a', 1000);
      const podB = new RedisInsightQueue(b, `${prefix}insights`, 'pod-b', 1000);
      podA.push([entry(1), entry(2)]);
      await podA.flush();
      const taken = await podB.take(10);
      assert.deepEqual(keys(taken), ['u-1', 'u-2']);
      await podB.ack(taken!);
      assert.equal(await podA.depth(), 0);
    } finally {
      a.disconnect();
      b.disconnect();
      await deleteKeys(REDIS_URL, prefix);
    }
  });
});
