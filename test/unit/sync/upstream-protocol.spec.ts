import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  UPSTREAM_KEEPALIVE_MS,
  dataSyncRequest,
  httpBaseOf,
  parseUpstreamMessage,
  relayProxySocketUrl,
  statusMessage,
  upstreamSocketOptions,
} from '../../../src/sync/upstream-protocol.js';
import { fullJitterDelay } from '../../../src/common/backoff.js';
import { MemoryData } from '../../../src/store/memory-data.js';
import { parseBootstrap } from '../../../src/store/data-set.js';
import { ENV_ID, sampleBootstrap } from '../../support/sample-data.js';

describe('upstream protocol', () => {
  it('derives the registration base and the relay-proxy URL, keeping a path prefix', () => {
    assert.equal(httpBaseOf(new URL('ws://els:5100')), 'http://els:5100');
    assert.equal(httpBaseOf(new URL('wss://featbit.example.com/els/')), 'https://featbit.example.com/els');
    assert.equal(relayProxySocketUrl(new URL('wss://featbit.example.com/els/'), 'rp-key'), 'wss://featbit.example.com/els/streaming?type=relay-proxy&token=rp-key');
  });

  it('asks for a full data set at version 0, and can send per-env versions', () => {
    const data = new MemoryData();
    assert.equal(dataSyncRequest(data, false), '{"messageType":"data-sync","data":{"timestamp":0}}');
    data.replaceAll(parseBootstrap(sampleBootstrap()), false);
    assert.equal(dataSyncRequest(data, true), '{"messageType":"data-sync","data":{"timestamp":0}}');
    assert.deepEqual(JSON.parse(dataSyncRequest(data, false)), {
      messageType: 'data-sync',
      data: { timestamp: data.dataVersion, envs: [{ envId: ENV_ID, timestamp: data.dataVersion }] },
    });
  });

  it('parses rp_full, rp_patch and patch; ignores other types', () => {
    const body = sampleBootstrap();
    const full = parseUpstreamMessage(JSON.stringify({ messageType: 'data-sync', data: { eventType: 'rp_full', items: body.items } }));
    assert.equal(full.kind, 'full');
    const patch = parseUpstreamMessage(JSON.stringify({ messageType: 'data-sync', data: { eventType: 'rp_patch', items: [{ ...body.items[0], secrets: [] }, { ...body.items[0], secrets: [] }] } }));
    assert.ok(patch.kind === 'patch' && patch.items.length === 2 * (body.items[0]!.featureFlags.length + body.items[0]!.segments.length));
    const live = parseUpstreamMessage(JSON.stringify({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: [body.items[0]!.featureFlags[0]], segments: [] } }));
    assert.ok(live.kind === 'patch' && live.items[0]?.kind === 'flag' && live.items[0].envId === ENV_ID);
    assert.equal(parseUpstreamMessage('{"messageType":"pong","data":{}}').kind, 'pong');
    assert.equal(parseUpstreamMessage('{"messageType":"data-sync","data":{"eventType":"something"}}').kind, 'ignored');
    assert.throws(() => parseUpstreamMessage('not json'));
    assert.throws(() => parseUpstreamMessage('{"messageType":"data-sync","data":{"eventType":"rp_full","items":[{"envId":"x"}]}}'));
  });

  it('sends status as a JSON string inside the message', () => {
    const message = JSON.parse(statusMessage('agent-1', '{"serves":"shop:prod"}')) as { data: { status: unknown } };
    assert.equal(message.data.status, '{"serves":"shop:prod"}');
  });
});

describe(fullJitterDelay.name, () => {
  it('draws from [0, min(cap, base × 2^attempt)]', () => {
    assert.equal(fullJitterDelay(0, 1000, 30_000, () => 0.999), 999);
    assert.equal(fullJitterDelay(3, 1000, 30_000, () => 0.5), 4000);
    assert.equal(fullJitterDelay(20, 1000, 30_000, () => 0.5), 15_000);
    assert.equal(fullJitterDelay(500, 1000, 30_000, () => 0), 0);
  });
});

describe('upstream protocol: invalid items', () => {
  const full = (items: unknown) => JSON.stringify({ messageType: 'data-sync', data: { eventType: 'rp_full', items } });

  it('skips a flag without key and one with an unparsable date in an rp_full, and keeps the rest', () => {
    const body = sampleBootstrap();
    const env = body.items[0]!;
    const good = env.featureFlags.length;
    env.featureFlags.push({ id: 'no-key', envId: ENV_ID, updatedAt: '2026-01-01T00:00:00Z' });
    env.featureFlags.push({ id: 'bad-date', envId: ENV_ID, key: 'bad-date', updatedAt: 'yesterday' });
    const event = parseUpstreamMessage(full(body.items));
    assert.ok(event.kind === 'full');
    assert.equal(event.data.envs[0]?.flags.length, good);
    assert.equal(event.data.envs[0]?.segments.length, env.segments.length);
    assert.equal(event.data.envs[0]?.secrets.length, env.secrets.length);
    assert.deepEqual(event.skipped, [
      { where: `items[0].featureFlags[${good}]`, reason: 'key is required', id: 'no-key' },
      { where: `items[0].featureFlags[${good + 1}]`, reason: 'updatedAt is not a date-time', id: 'bad-date' },
    ]);
  });

  it('keeps the held version of an invalid item it already holds, instead of dropping it', () => {
    const held = new MemoryData();
    held.replaceAll(parseBootstrap(sampleBootstrap()), false);
    const body = sampleBootstrap();
    const first = body.items[0]!.featureFlags[0]!;
    const heldJson = held.env(ENV_ID)!.flags.get(String(first['id']))!.json;
    body.items[0]!.featureFlags[0] = { ...first, updatedAt: 'not a date', changed: true };
    const event = parseUpstreamMessage(full(body.items), held);
    assert.ok(event.kind === 'full');
    assert.deepEqual(event.data.envs[0]?.flags.find((f) => f.id === first['id'])?.json, heldJson);
    assert.equal(event.skipped[0]?.keptHeld, true);
  });

  it('skips an invalid secret, segment or patch item and keeps the others', () => {
    const body = sampleBootstrap();
    body.items[0]!.secrets.push({ type: 'admin', value: 'x' });
    body.items[0]!.segments.push({ id: 'seg-bad', envId: ENV_ID });
    const event = parseUpstreamMessage(full(body.items));
    assert.ok(event.kind === 'full');
    assert.deepEqual(
      event.skipped.map((s) => [s.where, s.reason]),
      [
        ['items[0].secrets[2]', 'type must be "server" or "client"'],
        [`items[0].segments[${body.items[0]!.segments.length - 1}]`, 'updatedAt is required'],
      ],
    );
    assert.equal(event.data.envs[0]?.secrets.length, 2);

    const flag = sampleBootstrap().items[0]!.featureFlags[0]!;
    const live = parseUpstreamMessage(
      JSON.stringify({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: [{ ...flag, key: undefined }, flag, 'nonsense'], segments: [] } }),
    );
    assert.ok(live.kind === 'patch');
    assert.deepEqual(live.items.map((i) => i.id), [flag['id']]);
    assert.deepEqual(live.skipped.map((s) => [s.where, s.reason]), [['featureFlags[0]', 'key is required'], ['featureFlags[2]', 'must be an object']]);

    const rpPatch = parseUpstreamMessage(
      JSON.stringify({ messageType: 'data-sync', data: { eventType: 'rp_patch', items: [{ envId: ENV_ID, secrets: [], featureFlags: [flag, { ...flag, id: 'x', updatedAt: 'bad' }], segments: [] }] } }),
    );
    assert.ok(rpPatch.kind === 'patch');
    assert.equal(rpPatch.items.length, 1);
    assert.equal(rpPatch.skipped.length, 1);

    // An item nested deeper than the agent can serialise is skipped like any other invalid one.
    const deep = JSON.stringify({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: [{ ...flag, extra: 'DEEP' }, flag], segments: [] } });
    const deepPatch = parseUpstreamMessage(deep.replace('"DEEP"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`));
    assert.ok(deepPatch.kind === 'patch');
    assert.deepEqual(deepPatch.skipped.map((s) => [s.where, s.reason]), [['featureFlags[0]', 'nests objects or arrays deeper than 64 levels']]);
    assert.equal(deepPatch.items.length, 1);
  });

  it('still rejects a message whose environments are malformed', () => {
    assert.throws(() => parseUpstreamMessage(full([{ featureFlags: [], segments: [] }])), /envId is required/);
    assert.throws(() => parseUpstreamMessage(full([{ envId: ENV_ID, featureFlags: {}, segments: [] }])), /featureFlags must be an array/);
    assert.throws(() => parseUpstreamMessage(full('nope')), /items must be an array/);
    assert.throws(() => parseUpstreamMessage('{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":{}}}'), /featureFlags must be an array/);
  });
});

describe('upstream socket', () => {
  it('applies the payload bound and TCP keepalive', () => {
    const options = upstreamSocketOptions({ connectTimeoutMs: 1234, maxPayloadBytes: 5 * 1024 * 1024 });
    assert.equal(options.maxPayload, 5 * 1024 * 1024);
    assert.equal(options.handshakeTimeout, 1234);
    assert.equal(options.keepAlive, true);
    assert.equal(options.keepAliveInitialDelay, UPSTREAM_KEEPALIVE_MS);
  });
});
