import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcess } from '../support/agent-process.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

/**
 * An environment written for the C# agent: its names, `Mode` omitted (the C# default is auto),
 * the port in ASPNETCORE_URLS. The agent must choose agent mode, say why, and sync.
 */
describe('a C# agent environment file', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('syncs from FeatBit with Mode omitted, and names the mode it chose', async () => {
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    cleanups.push(() => fake.stop());
    // AgentProcess sets PORT, HOST and API_KEY; the C# names below are what the test is about.
    const agent = await AgentProcess.start({
      ApiKey: RELAY_PROXY_KEY,
      AgentId: 'docker-agent-001',
      StreamingUri: fake.streamingUrl,
      EventUri: fake.httpUrl,
      ForwardEvents: 'true',
      Streaming__TokenExpirySeconds: '45',
      LOG_LEVEL: 'info',
    });
    cleanups.push(() => agent.kill());
    await agent.until(async () => (await agent.readiness())[0] === 200);
    const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { data: { featureFlags: unknown[] } };
    assert.ok(body.data.featureFlags.length > 0, 'flags synced from FeatBit');
    assert.match(agent.logs, /agent mode/);
    assert.match(agent.logs, /STREAMING_URI is set and MODE is not/);
    assert.match(agent.logs, /docker-agent-001/);
  });
});
