import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { agentConfig, offlineConfig, startAgent, type RunningAgent, postBootstrap } from '../support/agent-app.js';
import { SdkSocket, tokenFor } from '../support/sdk-socket.js';
import { CLIENT_SECRET, ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { StreamingGateway } from '../../src/streaming/streaming.gateway.js';

const INVALID = { code: 4003, reason: 'invalid request, close by server' };

describe(StreamingGateway.name, () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await agent.close();
  });

  async function serverSocket(): Promise<SdkSocket> {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
    await sdk.opened;
    return sdk;
  }

  it('answers a server data-sync with timestamp 0 with the full environment, verbatim', async () => {
    const sdk = await serverSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    const reply = await sdk.next();
    assert.equal(reply.messageType, 'data-sync');
    assert.equal(reply.data['eventType'], 'full');
    const expected = sampleBootstrap().items[0];
    assert.deepEqual(reply.data['featureFlags'], expected?.featureFlags);
    assert.deepEqual(reply.data['segments'], expected?.segments);
    sdk.close();
  });

  it('answers a data-sync at the current version with an empty patch', async () => {
    const sdk = await serverSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: agent.store.data.dataVersion } });
    const reply = await sdk.next();
    assert.deepEqual(reply.data, { eventType: 'patch', featureFlags: [], segments: [] });
    sdk.send({ messageType: 'data-sync', data: { timestamp: Date.parse('2026-01-04T12:07:00Z') } });
    const patch = await sdk.next();
    assert.deepEqual(
      (patch.data['featureFlags'] as { key: string }[]).map((f) => f.key),
      ['welcome-text'],
    );
    sdk.close();
  });

  it('treats null, string and fractional timestamps as 0 (full)', async () => {
    const sdk = await serverSocket();
    for (const timestamp of [null, 'abc', 1.5, true]) {
      sdk.send({ messageType: 'data-sync', data: { timestamp } });
      assert.equal((await sdk.next()).data['eventType'], 'full');
    }
    sdk.close();
  });

  it('replies pong exactly, matching message types case-insensitively, and echoes', async () => {
    const sdk = await serverSocket();
    sdk.send('{"messageType":"ping","data":null}');
    const raw = await new Promise<string>((resolve) => sdk.socket.once('message', (m: Buffer) => resolve(m.toString())));
    assert.equal(raw, '{"messageType":"pong","data":{}}');
    await sdk.next();
    sdk.send({ messageType: 'PiNg', data: {} });
    assert.equal((await sdk.next()).messageType, 'pong');
    sdk.send({ messageType: 'echo', data: { hello: ['world', 1] } });
    assert.deepEqual(await sdk.next(), { messageType: 'echo', data: { hello: ['world', 1] } });
    sdk.close();
  });

  it('ignores bad frames and keeps the connection open', async () => {
    const sdk = await serverSocket();
    sdk.send('not json');
    sdk.send('[1,2,3]');
    sdk.send('{"messageType":"ping"}');
    sdk.send('{"data":{}}');
    sdk.send('{"messageType":"no-such-type","data":{}}');
    sdk.send('{"messageType":42,"data":{}}');
    sdk.socket.send(Buffer.from('{"messageType":"ping","data":null}'), { binary: true });
    sdk.send({ messageType: 'echo', data: 'still here' });
    assert.deepEqual(await sdk.next(), { messageType: 'echo', data: 'still here' });
    sdk.close();
  });

  it('accepts inbound messages up to 1 MiB and refuses larger ones without harming others', async () => {
    const sdk = await serverSocket();
    const bystander = await serverSocket();
    const big = 'x'.repeat(1024 * 1024 - 100);
    sdk.send({ messageType: 'echo', data: big });
    assert.equal((await sdk.next()).data, big);
    sdk.send({ messageType: 'echo', data: 'y'.repeat(1024 * 1024 + 10) });
    const closed = await sdk.closed;
    assert.equal(closed.code, 1009);
    bystander.send({ messageType: 'ping', data: null });
    assert.equal((await bystander.next()).messageType, 'pong');
    bystander.close();
  });

  const rejected: [string, string][] = [
    ['a missing type', `token=${tokenFor(SERVER_SECRET)}`],
    ['an unknown type', `type=relay-proxy&token=${tokenFor(SERVER_SECRET)}`],
    ['an unsupported version', `type=server&version=3&token=${tokenFor(SERVER_SECRET)}`],
    ['a missing token', 'type=server'],
    ['a malformed token', 'type=server&token=abc'],
    ['an expired token', `type=server&token=${tokenFor(SERVER_SECRET, Date.now() - 60_000)}`],
    ['a token from the future', `type=server&token=${tokenFor(SERVER_SECRET, Date.now() + 60_000)}`],
    ['an unknown secret', `type=server&token=${tokenFor('AAAAAAAAAAAAAAAAAAAAAAkSo8D31rWE6hxJPS6Pe2BQ')}`],
    ['a client secret on a server connection', `type=server&token=${tokenFor(CLIENT_SECRET)}`],
    ['a server secret on a client connection', `type=client&token=${tokenFor(SERVER_SECRET)}`],
    ['a relay proxy key', `type=server&token=${RELAY_PROXY_KEY}`],
  ];
  for (const [name, query] of rejected) {
    it(`accepts the upgrade, then closes with 4003 for ${name}`, async () => {
      const sdk = SdkSocket.open(agent.wsUrl, query);
      await sdk.opened;
      assert.deepEqual(await sdk.closed, INVALID);
    });
  }

  it('accepts version 1 and 2, and paths under /streaming/', async () => {
    for (const query of ['version=1&', 'version=2&', 'version=&']) {
      const sdk = SdkSocket.open(agent.wsUrl, `${query}type=server&token=${tokenFor(SERVER_SECRET)}`);
      await sdk.opened;
      sdk.send({ messageType: 'ping', data: null });
      assert.equal((await sdk.next()).messageType, 'pong');
      sdk.close();
    }
    const nested = new WebSocket(`${agent.wsUrl}/streaming/sub?type=server&token=${tokenFor(SERVER_SECRET)}`);
    await new Promise((resolve, reject) => {
      nested.once('open', resolve);
      nested.once('error', reject);
    });
    nested.close();
  });

  it('refuses upgrades on other paths', async () => {
    const other = new WebSocket(`${agent.wsUrl}/elsewhere?type=server&token=${tokenFor(SERVER_SECRET)}`);
    await assert.rejects(
      new Promise((resolve, reject) => {
        other.once('open', resolve);
        other.once('error', reject);
      }),
    );
  });

  it('pushes a full payload to server SDKs after a bootstrap, and a patch after an upsert', async () => {
    const sdk = await serverSocket();
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    await sdk.next();
    const body = sampleBootstrap();
    const flags = body.items[0]?.featureFlags ?? [];
    const darkMode = flags.find((f) => f['key'] === 'dark-mode');
    assert.ok(darkMode);
    darkMode['isEnabled'] = true;
    darkMode['updatedAt'] = '2026-02-01T00:00:00.000Z';
    const response = await postBootstrap(agent.httpUrl, body);
    assert.equal(response.status, 200);
    const push = await sdk.next();
    assert.equal(push.data['eventType'], 'full');
    const pushed = (push.data['featureFlags'] as Record<string, unknown>[]).find((f) => f['key'] === 'dark-mode');
    assert.equal(pushed?.['isEnabled'], true);

    const changed = { ...darkMode, isEnabled: false, updatedAt: '2026-02-02T00:00:00.000Z' };
    const { parseItems } = await import('../../src/store/data-set.js');
    await agent.store.applyPatch(parseItems('flag', [changed], 'test'));
    const patch = await sdk.next();
    assert.deepEqual(patch.data, { eventType: 'patch', featureFlags: [changed], segments: [] });
    // An older copy is not stored and not pushed.
    await agent.store.applyPatch(parseItems('flag', [{ ...changed, updatedAt: '2026-01-01T00:00:00.000Z' }], 'test'));
    await agent.pushed();
    assert.equal(await sdk.silentFor(100), true);
    sdk.close();
  });

  it('accepts client connections', async () => {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'client', CLIENT_SECRET);
    await sdk.opened;
    sdk.send({ messageType: 'ping', data: null });
    assert.equal((await sdk.next()).messageType, 'pong');
    sdk.close();
  });
});

describe(`${StreamingGateway.name} before any data`, () => {
  it('closes with 1011 (retry), not 4003, while the agent has never held data', async () => {
    const agent = await startAgent(offlineConfig({ dataFile: undefined }));
    try {
      const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
      await sdk.opened;
      assert.deepEqual(await sdk.closed, { code: 1011, reason: 'service unavailable, close by server' });
    } finally {
      await agent.close();
    }
  });
});

describe(`${StreamingGateway.name} in agent mode`, () => {
  it('pushes one patch per change although FeatBit sends it once per server secret (§6.6)', async () => {
    const body = sampleBootstrap();
    const env = body.items[0];
    assert.ok(env);
    const server = env.secrets.find((s) => s['type'] === 'server');
    // A second server secret of the same environment: FeatBit sends every live patch twice.
    env.secrets.push({ ...server, value: `AAAAAAAAAAAAAAAAAAAAAA${SERVER_SECRET.slice(22)}` });
    const fake = await FakeFeatBitServer.start({ data: body });
    const agent = await startAgent(agentConfig(fake.streamingUrl));
    try {
      const end = Date.now() + 10_000;
      while (!agent.store.data.isPopulated) {
        if (Date.now() > end) throw new Error('the agent never synced');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
      await sdk.opened;
      sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
      assert.equal((await sdk.next()).data['eventType'], 'full');

      const changed = { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: true, updatedAt: '2026-02-01T00:00:00.000Z' };
      const stored = fake.upsertFlag(ENV_ID, changed);
      fake.upsertFlag(ENV_ID, stored);
      const segment = env.segments[0];
      assert.ok(segment);
      const storedSegment = fake.upsertSegment(ENV_ID, { ...segment, updatedAt: '2026-02-02T00:00:00.000Z' });
      fake.upsertSegment(ENV_ID, storedSegment);
      // A later change marks the end: upstream messages are handled and pushed in order.
      const marker = fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'welcome-text'), updatedAt: '2026-02-03T00:00:00.000Z' });
      const pushes: string[] = [];
      for (;;) {
        const push = await sdk.next();
        const items = [...(push.data['featureFlags'] as { key: string }[]).map((f) => f.key), ...(push.data['segments'] as { id: string }[]).map((s) => s.id)];
        pushes.push(items.join(','));
        if (items.includes(String(marker['key']))) break;
      }
      assert.deepEqual(pushes, ['dark-mode', String(segment['id']), 'welcome-text']);
      sdk.close();
    } finally {
      await agent.close();
      await fake.stop();
    }
  });
});
