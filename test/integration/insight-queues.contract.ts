import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Redis } from 'ioredis';
import { entryBytes, type InsightBatch, type InsightQueue, type QueueBounds, type QueuedInsight } from '../../src/insights/insight-queue.js';
import { RedisInsightQueue } from '../../src/insights/redis-insight-queue.js';
import { freshPrefix } from '../support/redis.js';
import type { RedisStoreOptions } from '../../src/store/flag-store.js';
import { createRedisClients } from '../../src/store/redis/redis-connection.js';

export const entry = (i: number, secret = 'secret-a', pad = 0): QueuedInsight => ({ secret, body: JSON.stringify({ user: { keyId: `u-${i}`, name: 'x'.repeat(pad) } }) });
export const keys = (batch: InsightBatch | null) => batch?.entries.map((e) => (JSON.parse(e.body) as { user: { keyId: string } }).user.keyId) ?? [];

export function describeInsightQueueContract(name: string, make: (max: number | QueueBounds) => Promise<{ queue: InsightQueue; cleanup: () => Promise<void> }>): void {
  describe(`${name} (InsightQueue contract)`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups) await c();
    });
    const queue = async (max: number | QueueBounds = 1000) => {
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

    it('is bounded in bytes: a flood of large events keeps the bytes held under the bound, oldest dropped and counted', async () => {
      const maxBytes = 64 * 1024;
      const q = await queue({ maxEntries: 100_000, maxBytes });
      const size = entryBytes(entry(0, 'secret-a', 4000));
      for (let round = 0; round < 10; round++) {
        q.push(Array.from({ length: 20 }, (_, i) => entry(round * 20 + i, 'secret-a', 4000)));
        await q.flush();
        assert.ok((await q.bytes()) <= maxBytes, `bytes ${await q.bytes()} > ${maxBytes}`);
      }
      const held = await q.depth();
      assert.equal(held, Math.floor(maxBytes / size));
      assert.equal(q.dropped, 200 - held);
      const batch = await q.take(1000);
      assert.ok(keys(batch).includes('u-199'), 'the newest are kept');
      assert.ok(!keys(batch).includes('u-0'), 'the oldest are dropped');
      await q.ack(batch!);
      assert.equal(await q.bytes(), 0);
    });

    it('keeps the entries an acknowledgement leaves out, first in line', async () => {
      const q = await queue();
      q.push([entry(1), entry(2), entry(3), entry(4)]);
      await q.flush();
      const batch = await q.take(3);
      await q.ack(batch!, new Set([1]));
      const rest: string[] = [];
      for (let next = await q.take(10); next; next = await q.take(10)) {
        rest.push(...keys(next));
        await q.ack(next);
      }
      assert.deepEqual(rest, ['u-2', 'u-4']);
      assert.equal(await q.depth(), 0);
    });
  });
}


/** A Redis topology for the insight stream: a fresh client each call (disconnected by the suite). */
export type RedisConnect = () => Redis | Cluster | Promise<Redis | Cluster>;

/** The command connection the agent gives the queue (the store's client factory), connected. */
export async function storeClient(options: RedisStoreOptions): Promise<Redis | Cluster> {
  const { redis, subscriber } = createRedisClients(options, options.commandTimeoutMs ?? 2000);
  subscriber.disconnect();
  await redis.connect();
  return redis;
}

/** The InsightQueue contract and the stream's own rules (pods sharing it, trims while pending), on any Redis topology. */
export function describeRedisInsightQueueContract(name: string, connect: RedisConnect): void {
  const clients: (Redis | Cluster)[] = [];
  const client = async (): Promise<Redis | Cluster> => {
    const made = await connect();
    clients.push(made);
    return made;
  };
  /** The stream's key as the queue uses it (in a Cluster, with the hash tag the queue gives it). */
  const streamKey = (redis: Redis | Cluster, prefix: string): string => (redis instanceof Cluster ? `{${prefix}insights}` : `${prefix}insights`);
  const cleanup = async (redis: Redis | Cluster, prefix: string): Promise<void> => {
    const key = streamKey(redis, prefix);
    await redis.del(key).catch(() => undefined);
    await redis.del(`${key}:meta`).catch(() => undefined);
    redis.disconnect();
  };

  describeInsightQueueContract(`${RedisInsightQueue.name} (${name})`, async (max) => {
    const prefix = freshPrefix();
    const redis = await client();
    return Promise.resolve({ queue: new RedisInsightQueue(redis, `${prefix}insights`, 'pod-1', max), cleanup: () => cleanup(redis, prefix) });
  });

  describe(`${RedisInsightQueue.name} (${name}): the stream`, () => {
    after(() => {
      for (const c of clients) c.disconnect();
    });

    it('lets one pod deliver what another accepted, and claims what a dead pod had taken', async () => {
      const prefix = freshPrefix();
      const a = await client();
      const b = await client();
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
        b.disconnect();
        await cleanup(a, prefix);
      }
    });

    it('acknowledges pending entries trimmed away ([id, nil]) and counts them as dropped when their delivery had failed', async () => {
      const prefix = freshPrefix();
      const redis = await client();
      try {
        const q = new RedisInsightQueue(redis, `${prefix}insights`, 'pod-1', 5);
        q.push([entry(1), entry(2), entry(3)]);
        await q.flush();
        const taken = await q.take(10);
        assert.deepEqual(keys(taken), ['u-1', 'u-2', 'u-3']);
        // FeatBit is away: the batch goes back, pending; meanwhile the bound trims it away.
        await q.release(taken!);
        q.push([4, 5, 6, 7, 8].map((i) => entry(i)));
        await q.flush();
        assert.equal(q.stats.trimmed, 0, 'pending entries are counted by the pod holding them');
        assert.equal(q.stats.trimmedPending, 3);
        assert.equal(q.dropped, 0);
        const next = await q.take(10);
        assert.deepEqual(keys(next), ['u-4', 'u-5', 'u-6', 'u-7', 'u-8']);
        assert.equal(q.stats.trimmedWhilePending, 3);
        assert.equal(q.dropped, 3);
        await q.ack(next!);
        assert.equal(await q.depth(), 0);
        assert.equal(await q.bytes(), 0);
      } finally {
        await cleanup(redis, prefix);
      }
    });

    it('counts entries trimmed while their delivery was under way, then delivered, as delivered and not dropped', async () => {
      const prefix = freshPrefix();
      const redis = await client();
      try {
        const q = new RedisInsightQueue(redis, `${prefix}insights`, 'pod-1', 5);
        q.push([entry(1), entry(2), entry(3), entry(4)]);
        await q.flush();
        const taken = await q.take(3);
        // While the POST is in flight, accepted events push the taken ones out of the bound.
        q.push([5, 6, 7, 8, 9].map((i) => entry(i)));
        await q.flush();
        assert.equal(q.stats.trimmed, 1, 'u-4 had not been taken: dropped');
        assert.equal(q.stats.trimmedPending, 3, 'u-1..u-3 were out for delivery');
        // The POST succeeds: u-1..u-3 reached FeatBit.
        await q.ack(taken!);
        assert.equal(q.stats.deliveredAfterTrim, 3);
        assert.equal(q.dropped, 1);
        assert.deepEqual(keys(await q.take(10)), ['u-5', 'u-6', 'u-7', 'u-8', 'u-9']);
      } finally {
        await cleanup(redis, prefix);
      }
    });

    it('counts as dropped the trimmed entries of a dead pod that another pod claims', async () => {
      const prefix = freshPrefix();
      const a = await client();
      const b = await client();
      const key = streamKey(a, prefix);
      try {
        const podA = new RedisInsightQueue(a, `${prefix}insights`, 'pod-a', 3);
        const podB = new RedisInsightQueue(b, `${prefix}insights`, 'pod-b', 3);
        podA.push([entry(1), entry(2)]);
        await podA.flush();
        const taken = await podA.take(10);
        assert.deepEqual(keys(taken), ['u-1', 'u-2']);
        // pod-a dies with the batch taken (made to look idle for two minutes, past the claim age);
        // pod-b's writes trim it away.
        await a.xclaim(key, 'forwarders', 'pod-a', 0, ...(taken!.token as { ids: string[] }).ids, 'IDLE', 120_000);
        podB.push([3, 4, 5].map((i) => entry(i)));
        await podB.flush();
        assert.equal(podB.stats.trimmedPending, 2);
        assert.equal(podB.dropped, 0);
        // pod-b claims pod-a's stale entries: gone, so acknowledged and dropped; then it reads on.
        assert.deepEqual(keys(await podB.take(10)), ['u-3', 'u-4', 'u-5']);
        assert.equal(podB.stats.trimmedWhilePending, 2);
        assert.equal(podB.dropped, 2);
        const pending = (await b.xpending(key, 'forwarders')) as [number, ...unknown[]];
        assert.equal(pending[0], 3, 'only the batch pod-b holds is pending');
      } finally {
        b.disconnect();
        await cleanup(a, prefix);
      }
    });

    it('acknowledges pending entries that a MAXLEN ~ trim (an older agent) removed', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}insights`;
      const redis = await client();
      try {
        const q = new RedisInsightQueue(redis, key, 'pod-1', 1000);
        q.push([entry(1), entry(2)]);
        await q.flush();
        const taken = await q.take(10);
        await q.release(taken!);
        await redis.xtrim(streamKey(redis, prefix), 'MAXLEN', 0);
        q.push([entry(3)]);
        await q.flush();
        assert.deepEqual(keys(await q.take(10)), ['u-3']);
        assert.equal(q.stats.trimmedWhilePending, 2);
      } finally {
        await cleanup(redis, prefix);
      }
    });
  });
}
