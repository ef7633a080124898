import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dataSyncRequest, httpBaseOf, parseUpstreamMessage, relayProxySocketUrl, statusMessage } from '../../../src/sync/upstream-protocol.js';
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
