import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, type RunningAgent, postBootstrap } from '../support/agent-app.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { startJsClient } from '../support/js-client-sdk.js';
import { CLIENT_SECRET, ENV_ID, exampleExpectations, sampleBootstrap } from '../support/sample-data.js';
import { parseItems } from '../../src/store/data-set.js';
import { ClientEvaluationService } from '../../src/client/client-evaluation.service.js';

const ANN = {
  keyId: 'u-1001',
  name: 'Ann',
  customizedProperties: [
    { name: 'country', value: 'us' },
    { name: 'age', value: '30' },
    { name: 'email', value: 'ann@example.com' },
    { name: 'company', value: 'acme' },
  ],
};
const EVE = { keyId: 'u-2002', name: 'Eve', customizedProperties: [{ name: 'country', value: 'us' }, { name: 'age', value: 'abc' }, { name: 'company', value: 'hooli' }] };

interface Entry {
  id: string;
  variation: string | null;
  matchReason: string;
  timestamp: number;
}

function entries(message: { data: Record<string, unknown> }): Entry[] {
  return message.data['featureFlags'] as Entry[];
}

function byKey(list: Entry[]): Record<string, string | null> {
  return Object.fromEntries(list.map((e) => [e.id, e.variation]));
}

describe(ClientEvaluationService.name, () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await agent.close();
  });

  async function clientSocket(): Promise<SdkSocket> {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'client', CLIENT_SECRET);
    await sdk.opened;
    return sdk;
  }

  it('answers a client data-sync with the evaluated full payload of protocol §12, byte for byte', async () => {
    const sdk = await clientSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: ANN } });
    const raw = await new Promise<string>((resolve) => sdk.socket.once('message', (m: Buffer) => resolve(m.toString())));
    await sdk.next();
    const expectedStart =
      '{"messageType":"data-sync","data":{"eventType":"full","userKeyId":"u-1001","featureFlags":[' +
      '{"id":"new-checkout","variation":"true","variationType":"boolean","variationId":"3f9a1c2e-7b4d-4e8f-a6c5-1d2e3f4a5b6c","matchReason":"US and CA adults","variationOptions":[{"id":"3f9a1c2e-7b4d-4e8f-a6c5-1d2e3f4a5b6c","value":"true"},{"id":"8c7b6a59-4d3e-4f21-b0a9-c8d7e6f5a4b3","value":"false"}],"sendToExperiment":true,"timestamp":1767432600000},' +
      '{"id":"banner-color","variation":"blue","variationType":"string","variationId":"11111111-aaaa-4bbb-8ccc-000000000003","matchReason":"Beta testers","variationOptions":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001","value":"red"},{"id":"11111111-aaaa-4bbb-8ccc-000000000002","value":"green"},{"id":"11111111-aaaa-4bbb-8ccc-000000000003","value":"blue"}],"sendToExperiment":true,"timestamp":1767434400000},' +
      '{"id":"dark-mode","variation":"false","variationType":"boolean","variationId":"aaaa0000-0000-4000-8000-000000000002","matchReason":"flag disabled","variationOptions":[{"id":"aaaa0000-0000-4000-8000-000000000001","value":"true"},{"id":"aaaa0000-0000-4000-8000-000000000002","value":"false"}],"sendToExperiment":false,"timestamp":1767225600000}';
    assert.ok(raw.startsWith(expectedStart), raw.slice(0, 400));
    sdk.close();
  });

  it('follows identify on the same socket and evaluates later pushes for the new user', async () => {
    const sdk = await clientSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: ANN } });
    assert.equal((await sdk.next()).data['userKeyId'], 'u-1001');
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: EVE } });
    const eve = await sdk.next();
    assert.equal(eve.data['userKeyId'], 'u-2002');
    const list = entries(eve);
    assert.deepEqual(
      list.filter((e) => ['new-checkout', 'banner-color', 'dark-mode'].includes(e.id)).map((e) => [e.id, e.variation, e.matchReason]),
      [['new-checkout', 'false', 'default'], ['banner-color', 'red', 'default'], ['dark-mode', 'false', 'flag disabled']],
    );
    const flag = sampleBootstrap().items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!;
    await agent.store.applyPatch(parseItems('flag', [{ ...flag, isEnabled: true, updatedAt: '2026-03-01T00:00:00.000Z' }], 'test'));
    const push = await sdk.next();
    assert.deepEqual([push.data['eventType'], push.data['userKeyId']], ['patch', 'u-2002']);
    assert.deepEqual(entries(push).map((e) => [e.id, e.variation, e.timestamp]), [['dark-mode', 'true', Date.parse('2026-03-01T00:00:00.000Z')]]);
    sdk.close();
  });

  it('re-evaluates the flags that use a changed segment', async () => {
    const sdk = await clientSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: EVE } });
    assert.equal(byKey(entries(await sdk.next()))['banner-color'], 'red');
    const segment = sampleBootstrap().items[0]!.segments[0]!;
    await agent.store.applyPatch(parseItems('segment', [{ ...segment, included: ['u-2002'], updatedAt: '2026-03-02T00:00:00.000Z' }], 'test'));
    const push = await sdk.next();
    assert.deepEqual(byKey(entries(push)), { 'banner-color': 'blue', 'checkout-layout': '{"layout":"compact","columns":2}' });
    sdk.close();
  });

  it('sends nothing for a missing or invalid user and keeps the connection', async () => {
    const sdk = await clientSocket();
    for (const data of [{ timestamp: 0 }, { timestamp: 0, user: { name: 'no key' } }, { timestamp: 0, user: { keyId: ' ' } }, { timestamp: 0, user: 'u-1' }, { timestamp: 0, user: { keyId: 'u', customizedProperties: [{ name: 'a', value: { nested: true } }] } }]) {
      sdk.send({ messageType: 'data-sync', data });
    }
    sdk.send({ messageType: 'ping', data: null });
    assert.equal((await sdk.next()).messageType, 'pong');
    // A connection without a user gets no pushes either.
    const flag = sampleBootstrap().items[0]!.featureFlags.find((f) => f['key'] === 'welcome-text')!;
    await agent.store.applyPatch(parseItems('flag', [{ ...flag, updatedAt: '2026-03-03T00:00:00.000Z' }], 'test'));
    await agent.pushed();
    assert.equal(await sdk.silentFor(100), true);
    sdk.close();
  });

  it('coerces numeric and boolean property values and handles a large user', async () => {
    const sdk = await clientSocket();
    const props = [{ name: 'country', value: 'us' }, { name: 'age', value: 30 }, { name: 'vip', value: true }];
    for (let i = 0; i < 5000; i++) props.push({ name: `p${i}`, value: 'x'.repeat(20) });
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'u-big', customizedProperties: props } } });
    const reply = await sdk.next();
    assert.equal(byKey(entries(reply))['new-checkout'], 'false');
    assert.equal(entries(reply).find((e) => e.id === 'new-checkout')?.matchReason, 'US and CA adults');
    sdk.close();
  });

  it('answers a patch request with only newer flags, and an empty patch when nothing is newer', async () => {
    const sdk = await clientSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 9_999_999_999_999, user: ANN } });
    assert.deepEqual((await sdk.next()).data, { eventType: 'patch', userKeyId: 'u-1001', featureFlags: [] });
    sdk.close();
  });

  describe('POST /api/public/sdk/client/latest-all', () => {
    const post = (body: string, query = '', authorization = CLIENT_SECRET) =>
      fetch(`${agent.httpUrl}/api/public/sdk/client/latest-all${query}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });

    it('evaluates for the posted user', async () => {
      const response = await post(JSON.stringify(ANN));
      assert.equal(response.status, 200);
      const body = (await response.json()) as { messageType: string; data: { eventType: string; userKeyId: string; featureFlags: Entry[] } };
      assert.deepEqual([body.messageType, body.data.eventType, body.data.userKeyId], ['data-sync', 'full', 'u-1001']);
      assert.equal(byKey(body.data.featureFlags)['banner-color'], 'blue');
    });

    it('answers 400 "invalid end user" for a user without keyId, 200 empty for nothing newer', async () => {
      const bad = await post(JSON.stringify({ keyId: '', name: 'x' }));
      assert.equal(bad.status, 400);
      assert.equal(await bad.text(), 'invalid end user');
      const empty = await post(JSON.stringify(ANN), '?timestamp=9999999999999');
      assert.equal(empty.status, 200);
      assert.equal(await empty.text(), '');
      assert.equal((await post(JSON.stringify(ANN), '', 'nope')).status, 401);
    });
  });
});

describe('@featbit/js-client-sdk against the agent', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await agent.close();
  });

  it('receives the expected variations, follows identify, and sees a pushed change', async () => {
    const cases = exampleExpectations().cases;
    const first = cases[0]!;
    const client = await startJsClient({ streamingUri: agent.wsUrl, eventsUri: agent.httpUrl, secret: CLIENT_SECRET, user: first.user });
    try {
      let current = first.user.keyId;
      for (const c of cases) {
        if (c.user.keyId !== current) {
          await client.identify(c.user);
          current = c.user.keyId;
        }
        assert.equal(String(client.variation(c.flagKey, 'sdk-default')), c.variation, `${c.flagKey}/${c.user.keyId}`);
      }
      const changed = client.nextChange('dark-mode');
      const body = sampleBootstrap();
      const flag = body.items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!;
      flag['isEnabled'] = true;
      flag['updatedAt'] = new Date().toISOString();
      const response = await postBootstrap(agent.httpUrl, body);
      assert.equal(response.status, 200);
      await changed;
      assert.equal(String(client.variation('dark-mode', 'sdk-default')), 'true');
    } finally {
      await client.close();
    }
  });
});

void ENV_ID;
