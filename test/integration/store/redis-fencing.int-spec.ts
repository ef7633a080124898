import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisFlagStore } from '../../../src/store/redis/redis-flag-store.js';
import { parseBootstrap, parseItems } from '../../../src/store/data-set.js';
import { ENV_ID, sampleBootstrap } from '../../support/sample-data.js';
import { REDIS_URL, deleteKeys, freshPrefix } from '../../support/redis.js';

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const flag = (id: string, updatedAt: string, extra: Record<string, unknown> = {}) =>
  parseItems('flag', [{ id, envId: ENV_ID, key: `key-${id}`, updatedAt, ...extra }], 'test');

describe('RedisFlagStore fencing and ordering', () => {
  const prefix = freshPrefix();
  const admin = new Redis(REDIS_URL);
  let a: RedisFlagStore;
  let b: RedisFlagStore;

  before(async () => {
    a = await RedisFlagStore.connect({ url: REDIS_URL, keyPrefix: prefix, podId: 'pod-a', leaseMs: 1000, commandTimeoutMs: 500, reconcileIntervalMs: 500 });
    await until(() => a.leadership.isLeader);
    b = await RedisFlagStore.connect({ url: REDIS_URL, keyPrefix: prefix, podId: 'pod-b', leaseMs: 1000, commandTimeoutMs: 500, reconcileIntervalMs: 500 });
    await a.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: true });
    await a.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    await until(() => b.data.env(ENV_ID)?.flags.size === 6);
  });

  after(async () => {
    await a.close();
    await b.close();
    await deleteKeys(REDIS_URL, prefix);
    admin.disconnect();
  });

  it('refuses a generation older than the current one, and the refused writer adopts Redis', async () => {
    const current = await admin.get(`${prefix}current`);
    assert.ok(Number(current) >= 2);
    // A generation counter that went backwards (a partial restore): the next number is older.
    await admin.set(`${prefix}gen`, '0');
    const fewer = sampleBootstrap();
    fewer.items[0]!.featureFlags.pop();
    const change = await b.replaceAll(parseBootstrap(fewer), { pushAll: false });
    assert.deepEqual(change.envs, []);
    assert.equal(await admin.get(`${prefix}current`), current);
    assert.equal(b.data.env(ENV_ID)?.flags.size, 6);
    assert.equal(a.data.env(ENV_ID)?.flags.size, 6);
    await admin.set(`${prefix}gen`, String(Number(current) + 1));
  });

  it('refuses a write carrying a token that no longer holds the lease, and the writer steps down', async () => {
    assert.ok(a.leadership.isLeader);
    const token = a.leadership.token!;
    // Another pod took the lease while this one was cut off.
    await admin.set(`${prefix}leader`, 'pod-x#999', 'PX', 60_000);
    const change = await a.applyPatch(flag('fenced', '2030-01-01T00:00:00Z'));
    assert.deepEqual(change.envs, []);
    assert.equal(a.leadership.isLeader, false);
    assert.equal(await admin.hget(`${prefix}g:${await admin.get(`${prefix}current`)}:items`, `flag|${ENV_ID}|fenced`), null);
    assert.equal(a.data.env(ENV_ID)?.flags.has('fenced'), false);
    assert.notEqual(token, 'pod-x#999');
    await admin.del(`${prefix}leader`);
  });

  it("writes an operator's full replace (fenced: false) from a pod whose lease Redis lost, as a follower would; FeatBit's (fenced) is dropped", async () => {
    const holder = () => (a.leadership.isLeader ? a : b.leadership.isLeader ? b : undefined);
    const darkMode = (store: RedisFlagStore) => [...(store.data.env(ENV_ID)?.flags.values() ?? [])].find((f) => f.json['key'] === 'dark-mode')?.json['isEnabled'];
    const withDarkMode = (on: boolean) => {
      const body = sampleBootstrap();
      const dark = body.items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!;
      dark['isEnabled'] = on;
      dark['updatedAt'] = new Date().toISOString();
      return parseBootstrap(body);
    };
    /** Redis came back empty (a failover to a replica that had not synced): the lease went with the data. */
    const emptied = () => admin.del(`${prefix}leader`, `${prefix}current`);
    await until(() => holder() !== undefined);
    const before = darkMode(a);
    assert.equal(darkMode(b), before);

    let leader = holder()!;
    await emptied();
    assert.deepEqual((await leader.replaceAll(withDarkMode(!before), { pushAll: true })).envs, [], "FeatBit's data from a deposed leader is dropped");
    assert.equal(leader.leadership.isLeader, false);
    assert.equal(darkMode(leader), before);

    await until(() => holder() !== undefined);
    leader = holder()!;
    await emptied();
    // Before the fix this was dropped the same way, and the admin bootstrap still answered 200.
    const change = await leader.replaceAll(withDarkMode(!before), { pushAll: true, fenced: false });
    assert.notDeepEqual(change.envs, []);
    assert.notEqual(await admin.get(`${prefix}current`), null);
    await until(() => darkMode(a) === !before && darkMode(b) === !before);
    // The next lease holder finds Redis populated: nothing older is written back over it.
    await until(() => holder() !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(darkMode(a), !before);
    assert.equal(darkMode(b), !before);
  });

  it('converges on the timer when a change reaches Redis without a message', async () => {
    const gen = await admin.get(`${prefix}current`);
    // A write whose announcement was lost: item and sequence change, nothing is published.
    await admin.hset(`${prefix}g:${gen}:items`, `flag|${ENV_ID}|silent`, JSON.stringify({ id: 'silent', envId: ENV_ID, key: 'silent', updatedAt: '2030-01-01T00:00:00Z' }));
    await admin.hset(`${prefix}g:${gen}:ts`, `flag|${ENV_ID}|silent`, String(Date.parse('2030-01-01T00:00:00Z')));
    await admin.incr(`${prefix}seq`);
    await until(() => a.data.env(ENV_ID)?.flags.has('silent') === true && b.data.env(ENV_ID)?.flags.has('silent') === true);
    assert.equal(a.health().stale, false);
  });
});
