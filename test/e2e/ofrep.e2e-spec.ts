import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature as ServerOpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebOpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { EventSource } from 'eventsource';
import { startAgent, type RunningAgent, postBootstrap } from '../support/agent-app.js';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { OfrepController } from '../../src/ofrep/ofrep.controller.js';

const ANN = { targetingKey: 'u-1001', name: 'Ann', country: 'us', age: 30, email: 'ann@example.com', company: 'acme' };

describe(OfrepController.name, () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await ServerOpenFeature.close();
    await WebOpenFeature.close();
    await agent.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: SERVER_SECRET }) =>
    fetch(`${agent.httpUrl}/ofrep/v1/evaluate/flags${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('resolves every type of flag through @openfeature/server-sdk + ofrep-provider as the evaluator does', async () => {
    await ServerOpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: agent.httpUrl, headers: [['Authorization', SERVER_SECRET]] }));
    const client = ServerOpenFeature.getClient();
    assert.equal(await client.getBooleanValue('new-checkout', false, ANN), true);
    const detail = await client.getBooleanDetails('new-checkout', false, ANN);
    assert.equal(detail.reason, 'SPLIT');
    assert.equal(detail.variant, '3f9a1c2e-7b4d-4e8f-a6c5-1d2e3f4a5b6c');
    assert.equal(detail.flagMetadata['featbitMatchReason'], 'US and CA adults');
    assert.equal(await client.getStringValue('banner-color', 'x', ANN), 'blue');
    assert.equal((await client.getStringDetails('banner-color', 'x', ANN)).reason, 'TARGETING_MATCH');
    assert.equal(await client.getBooleanValue('dark-mode', true, ANN), false);
    assert.equal((await client.getBooleanDetails('dark-mode', true, ANN)).reason, 'DISABLED');
    assert.equal(await client.getNumberValue('max-cart-items', 0, { ...ANN, orders: 12 }), 50);
    // Ann is a beta tester (segment rule on her email), so "not in segment" fails for her.
    assert.deepEqual(await client.getObjectValue('checkout-layout', {}, { ...ANN, device: 'desktop' }), { layout: 'compact', columns: 2 });
    assert.deepEqual(await client.getObjectValue('checkout-layout', {}, { targetingKey: 'u-2001', device: 'desktop' }), { layout: 'wide', columns: 4 });
    assert.equal(await client.getStringValue('welcome-text', 'x', { targetingKey: 'u-9', country: 'de' }), 'Hallo');
    assert.equal((await client.getBooleanDetails('new-checkout', false, { targetingKey: 'u-0001' })).reason, 'TARGETING_MATCH');
    assert.equal((await client.getBooleanDetails('new-checkout', false, { targetingKey: 'u-2001', country: 'fr' })).reason, 'DEFAULT');
    const missing = await client.getBooleanDetails('no-such-flag', true, ANN);
    assert.deepEqual([missing.value, missing.errorCode], [true, 'FLAG_NOT_FOUND']);
  });

  it('answers each error as OFREP specifies', async () => {
    let response = await post('/new-checkout', { context: { country: 'us' } });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { key: 'new-checkout', errorCode: 'TARGETING_KEY_MISSING', errorDetails: 'context.targetingKey is required' });
    response = await post('/new-checkout', { context: { targetingKey: 'u', nested: { a: 1 } } });
    assert.equal(((await response.json()) as { errorCode: string }).errorCode, 'INVALID_CONTEXT');
    response = await post('/nope', { context: { targetingKey: 'u' } });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { errorCode: string }).errorCode, 'FLAG_NOT_FOUND');
    const bad: Record<string, string>[] = [{}, { authorization: 'bad' }, { authorization: 'AAAAAAAAAAAAAAAAAAAAAAkSo8D31rWE6hxJPS6Pe2BQ' }];
    for (const headers of bad) {
      assert.equal((await post('/new-checkout', { context: { targetingKey: 'u' } }, headers)).status, 401);
    }
    // Bearer, X-API-Key and a client secret are all accepted.
    const good: Record<string, string>[] = [{ authorization: `Bearer ${SERVER_SECRET}` }, { 'x-api-key': CLIENT_SECRET }];
    for (const headers of good) {
      assert.equal((await post('/new-checkout', { context: { targetingKey: 'u' } }, headers)).status, 200);
    }
    response = await post('', { context: { name: 'x' } });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { errorCode: string }).errorCode, 'TARGETING_KEY_MISSING');
  });

  it('answers an unchanged bulk request with 304, and a changed one with a new ETag', async () => {
    const first = await post('', { context: ANN });
    assert.equal(first.status, 200);
    const etag = first.headers.get('etag');
    assert.ok(etag);
    const body = (await first.json()) as { flags: { key: string; value?: unknown }[]; eventStreams: { type: string; endpoint: { requestUri: string } }[] };
    assert.equal(body.flags.length, 6);
    assert.equal(body.eventStreams[0]?.type, 'sse');
    assert.ok(!body.eventStreams[0].endpoint.requestUri.includes(SERVER_SECRET), 'no secret in the stream URL');
    assert.equal((await post('', { context: ANN }, { authorization: SERVER_SECRET, 'if-none-match': etag })).status, 304);
    assert.equal((await post('', { context: { ...ANN, country: 'de' } }, { authorization: SERVER_SECRET, 'if-none-match': etag })).status, 200);
  });

  it('tells @openfeature/ofrep-web-provider about a change through the event stream', async () => {
    (globalThis as { EventSource?: unknown }).EventSource ??= EventSource;
    await WebOpenFeature.setContext({ targetingKey: 'u-1001', country: 'us' });
    await WebOpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl: agent.httpUrl, headers: [['Authorization', CLIENT_SECRET]] }));
    const client = WebOpenFeature.getClient();
    assert.equal(client.getBooleanValue('dark-mode', true), false);
    const changed = new Promise<void>((resolve) => client.addHandler(ProviderEvents.ConfigurationChanged, () => resolve()));
    const bootstrap = sampleBootstrap();
    const flag = bootstrap.items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!;
    flag['isEnabled'] = true;
    flag['updatedAt'] = new Date().toISOString();
    const response = await postBootstrap(agent.httpUrl, bootstrap);
    assert.equal(response.status, 200);
    await changed;
    assert.equal(client.getBooleanValue('dark-mode', false), true);
  });

  it('answers archived flags without a value, so SDKs use the code default', async () => {
    const bootstrap = sampleBootstrap();
    const flag = bootstrap.items[0]!.featureFlags.find((f) => f['key'] === 'welcome-text')!;
    flag['isArchived'] = true;
    flag['updatedAt'] = new Date(Date.now() + 1000).toISOString();
    await fetch(`${agent.httpUrl}/api/public/proxy/bootstrap`, { method: 'POST', headers: { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' }, body: JSON.stringify(bootstrap) });
    const response = await post('/welcome-text', { context: { targetingKey: 'u' } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal('value' in body, false);
    assert.equal((body['metadata'] as Record<string, unknown>)['featbitMatchReason'], 'flag archived');
    assert.equal(await ServerOpenFeature.getClient().getStringValue('welcome-text', 'code default', { targetingKey: 'u' }), 'code default');
  });
});
