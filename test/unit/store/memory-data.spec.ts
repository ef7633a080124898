import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryData } from '../../../src/store/memory-data.js';
import { parseBootstrap, parseItems, parseTimestamp, DataValidationError } from '../../../src/store/data-set.js';
import { sampleBootstrap, ENV_ID, SERVER_SECRET } from '../../support/sample-data.js';

const flag = (id: string, updatedAt: string, extra: Record<string, unknown> = {}) =>
  parseItems('flag', [{ id, envId: ENV_ID, key: `key-${id}`, updatedAt, ...extra }], 'test');

describe(parseTimestamp.name, () => {
  const cases: [unknown, number][] = [
    ['2026-01-03T09:30:00.000Z', 1767432600000],
    ['2026-01-03T09:30:00', 1767432600000],
    ['2026-01-03T09:30:00.1234567Z', 1767432600123],
    ['2026-01-03T10:30:00+01:00', 1767432600000],
    [1767432600000, 1767432600000],
  ];
  for (const [input, expected] of cases) {
    it(`reads ${String(input)} as ${expected} (no offset = UTC)`, () => assert.equal(parseTimestamp(input), expected));
  }
  for (const bad of ['yesterday', '', null, {}, '2026-13-45']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.ok(Number.isNaN(parseTimestamp(bad))));
  }
});

describe(MemoryData.name, () => {
  it('indexes secrets by value, computes serves and the data version', () => {
    const data = new MemoryData();
    assert.equal(data.isPopulated, false);
    data.replaceAll(parseBootstrap(sampleBootstrap()), true);
    assert.equal(data.isPopulated, true);
    assert.equal(data.secret(SERVER_SECRET)?.type, 'server');
    assert.equal(data.secret(SERVER_SECRET.toLowerCase()), undefined);
    assert.equal(data.serves(), 'shop:prod');
    assert.equal(data.dataVersion, Date.parse('2026-01-04T12:10:00.000Z'));
  });

  it('forgets a secret that new data no longer holds, even the one it found last', () => {
    const data = new MemoryData();
    data.replaceAll(parseBootstrap(sampleBootstrap()), true);
    // A copy: SDKs send the secret as a new string every time.
    assert.equal(data.secret(`${SERVER_SECRET} `.trim())?.type, 'server');
    const bootstrap = sampleBootstrap();
    for (const env of bootstrap.items) env.secrets = env.secrets.filter((s) => s['value'] !== SERVER_SECRET);
    data.replaceAll(parseBootstrap(bootstrap), true);
    assert.equal(data.secret(SERVER_SECRET), undefined);
    assert.equal(data.secret(`${SERVER_SECRET} `.trim()), undefined);
  });

  it('upserts when the incoming timestamp is >= the stored one, and reports only what it stored', () => {
    const data = new MemoryData();
    assert.equal(data.applyPatch(flag('a', '2026-01-02T00:00:00Z')).envs[0]?.flags.length, 1);
    assert.equal(data.applyPatch(flag('a', '2026-01-01T00:00:00Z')).envs.length, 0);
    assert.equal(data.env(ENV_ID)?.flags.get('a')?.timestamp, Date.parse('2026-01-02T00:00:00Z'));
    assert.equal(data.applyPatch(flag('a', '2026-01-02T00:00:00Z', { v: 2 })).envs[0]?.flags.length, 1);
    assert.equal(data.env(ENV_ID)?.flags.get('a')?.json['v'], 2);
  });

  it('reports an upsert of exactly what is held (same timestamp, same content) as no change', () => {
    const data = new MemoryData();
    assert.equal(data.applyPatch(flag('a', '2026-01-02T00:00:00Z', { v: 1 })).envs.length, 1);
    const held = data.env(ENV_ID);
    held?.cached('probe', () => 'kept');
    const generation = held?.generation;
    // The duplicate FeatBit sends for a second server secret of the environment.
    assert.deepEqual(data.applyPatch(flag('a', '2026-01-02T00:00:00Z', { v: 1 })).envs, []);
    assert.equal(held?.generation, generation);
    assert.equal(held?.cached('probe', () => 'rebuilt'), 'kept');
    // Same timestamp, other content; or same content, newer timestamp: changes.
    assert.equal(data.applyPatch(flag('a', '2026-01-02T00:00:00Z', { v: 2 })).envs[0]?.flags.length, 1);
    assert.equal(data.applyPatch(flag('a', '2026-01-03T00:00:00Z', { v: 2 })).envs[0]?.flags.length, 1);
    // Two copies in one batch: stored once.
    const twice = [...flag('b', '2026-01-04T00:00:00Z'), ...flag('b', '2026-01-04T00:00:00Z')];
    assert.equal(data.applyPatch(twice).envs[0]?.flags.length, 1);
  });

  it('never lowers dataVersion, and reconciles a full replace into the changes only', () => {
    const data = new MemoryData();
    const body = parseBootstrap(sampleBootstrap());
    data.replaceAll(body, false);
    const held = data.env(ENV_ID);
    held?.cached('probe', () => 'kept');
    const same = data.replaceAll(parseBootstrap(sampleBootstrap()), false);
    assert.deepEqual(same.envs, []);
    // Unchanged: the same state, caches included, keeps serving.
    assert.equal(data.env(ENV_ID), held);
    assert.equal(data.env(ENV_ID)?.cached('probe', () => 'rebuilt'), 'kept');
    const changedBody = sampleBootstrap();
    const first = changedBody.items[0]?.featureFlags[0];
    assert.ok(first);
    first['updatedAt'] = '2026-03-01T00:00:00.000Z';
    const changed = data.replaceAll(parseBootstrap(changedBody), false);
    assert.equal(changed.envs[0]?.full, false);
    assert.deepEqual(changed.envs[0]?.flags.map((f) => f.id), [first['id']]);
    const fewer = sampleBootstrap();
    fewer.items[0]?.featureFlags.pop();
    const dropped = data.replaceAll(parseBootstrap(fewer), false);
    assert.equal(dropped.envs[0]?.full, true);
    assert.equal(data.dataVersion, Date.parse('2026-03-01T00:00:00.000Z'));
  });

  it('validates bootstrap bodies and names the problem', () => {
    assert.throws(() => parseBootstrap({ items: [] }), DataValidationError);
    assert.throws(() => parseBootstrap({ eventType: 'rp_full', items: [{ envId: ENV_ID, featureFlags: [{}], segments: [] }] }), /featureFlags\[0\]\.id/);
    assert.throws(() => parseBootstrap({ eventType: 'rp_full', items: [{ envId: ENV_ID, featureFlags: [], segments: [], secrets: [{ type: 'admin', value: 'x' }] }] }), /type/);
    assert.deepEqual(parseBootstrap({ eventType: 'x', items: [{ envId: ENV_ID, featureFlags: [], segments: [], secrets: 'none' }] }).envs[0]?.secrets, []);
  });
});
