import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { FbClientBuilder, UserBuilder, type IFbClient } from '@featbit/node-server-sdk';
import { agentConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import { FakeFeatBitServer, type StatusReport } from '../support/fake-featbit/fake-featbit-server.js';
import { ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { UpstreamSyncService } from '../../src/sync/upstream-sync.service.js';

const ADMIN = { authorization: RELAY_PROXY_KEY };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function readiness(agent: RunningAgent): Promise<[number, string]> {
  const response = await fetch(`${agent.httpUrl}/health/readiness`);
  return [response.status, await response.text()];
}

async function status(agent: RunningAgent): Promise<Record<string, unknown>> {
  return (await (await fetch(`${agent.httpUrl}/api/public/proxy/status`, { headers: ADMIN })).json()) as Record<string, unknown>;
}

/** Polls `check` until it returns true (the agent's background work has no event to await here). */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function nodeSdk(agent: RunningAgent): Promise<IFbClient> {
  const client = new FbClientBuilder().sdkKey(SERVER_SECRET).streamingUri(agent.wsUrl).eventsUri(agent.httpUrl).logLevel('none').build();
  await client.waitForInitialization();
  return client;
}

const user = new UserBuilder('u-1001').name('Ann').build();

describe(UpstreamSyncService.name, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('listens at once while FeatBit is down, then syncs, serves SDKs, resyncs after a 1000 close and drops deleted flags', async () => {
    const port = await freePort();
    const agent = await startAgent(agentConfig(`ws://127.0.0.1:${port}`));
    cleanups.push(() => agent.close());
    // Listening with no data yet: live, not ready, and SDKs are told to retry (1011), not 4003.
    assert.equal((await fetch(`${agent.httpUrl}/health/liveness`)).status, 200);
    assert.deepEqual(await readiness(agent), [503, 'Unhealthy']);

    const fake = await FakeFeatBitServer.start({ port, data: sampleBootstrap() });
    cleanups.push(() => fake.stop());
    await fake.waitFor('registration');
    await eventually(async () => (await readiness(agent))[0] === 200);
    assert.deepEqual(await readiness(agent), [200, 'Healthy']);
    const report = await fake.waitFor<StatusReport>('status');
    assert.equal(report.agentId, 'test-agent');
    assert.deepEqual(Object.keys(report.status), ['serves', 'dataVersion', 'syncState', 'lastSyncedAt', 'reportedAt']);
    assert.equal(report.status['serves'], 'shop:prod');
    assert.equal(report.status['syncState'], 'Stable');
    assert.equal(report.status['dataVersion'], Date.parse('2026-01-04T12:10:00.000Z'));
    assert.ok(!Number.isNaN(Date.parse(String(report.status['lastSyncedAt']))));
    assert.equal((await status(agent))['syncState'], 'Stable');

    const sdk = await nodeSdk(agent);
    cleanups.push(() => sdk.close());
    assert.equal(await sdk.boolVariation('dark-mode', user, true), false);

    // A live patch reaches the SDK.
    const patched = new Promise<void>((resolve) => sdk.on('update:dark-mode', () => resolve()));
    fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: true, updatedAt: new Date().toISOString() });
    await patched;
    assert.equal(await sdk.boolVariation('dark-mode', user, false), true);

    // FeatBit restarts gracefully (1000); changes and a deletion happen while the agent is away.
    await fake.pause(1000);
    await eventually(async () => (await readiness(agent))[1] === 'Degraded');
    assert.deepEqual(await readiness(agent), [200, 'Degraded']);
    assert.equal((await status(agent))['syncState'], 'Interrupted');
    fake.upsertFlag(ENV_ID, { ...fake.flag(ENV_ID, 'dark-mode'), isEnabled: false, updatedAt: new Date().toISOString() }, { silent: true });
    fake.deleteFlag(ENV_ID, 'welcome-text');
    const resynced = new Promise<void>((resolve) => sdk.on('update:dark-mode', () => resolve()));
    await fake.resume();
    await resynced;
    assert.equal(await sdk.boolVariation('dark-mode', user, true), false);
    // Deleted upstream during the outage: gone from the agent and from the SDK.
    assert.equal(await sdk.stringVariation('welcome-text', user, 'gone'), 'gone');
    const backup = (await (await fetch(`${agent.httpUrl}/api/public/proxy/backup`, { headers: ADMIN })).json()) as { items: { featureFlags: { key: string }[] }[] };
    assert.ok(!backup.items[0]?.featureFlags.some((f) => f.key === 'welcome-text'));
    await eventually(async () => (await readiness(agent))[1] === 'Healthy');
    // Every (re)connect asked for a full data set, so deletions reconcile.
    assert.ok(fake.received.filter((m) => m['messageType'] === 'data-sync').every((m) => (m['data'] as { timestamp: number }).timestamp === 0));
  });

  it('stops for good on 4003 (wrong key) and says so in status', async () => {
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap(), relayProxyKey: 'rp-some-other-key' });
    cleanups.push(() => fake.stop());
    const agent = await startAgent(agentConfig(fake.streamingUrl));
    cleanups.push(() => agent.close());
    await fake.waitFor('rejected');
    await eventually(async () => (await status(agent))['syncState'] === 'Stopped');
    const body = await status(agent);
    assert.equal(body['upstreamProblem'], 'unauthorized');
    assert.equal(body['registration'], 'unauthorized');
    const attempts = fake.rejectedConnections;
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(fake.rejectedConnections, attempts, 'no reconnect after 4003');
    assert.equal((await readiness(agent))[0], 503);
  });

  it('keeps syncing and serving when registration is refused for the licence quota (403)', async () => {
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap(), registerStatus: 403 });
    cleanups.push(() => fake.stop());
    const agent = await startAgent(agentConfig(fake.streamingUrl));
    cleanups.push(() => agent.close());
    await eventually(async () => (await status(agent))['registration'] === 'licence-quota');
    await eventually(async () => (await readiness(agent))[0] === 200);
    const sdk = await nodeSdk(agent);
    cleanups.push(() => sdk.close());
    assert.equal(await sdk.boolVariation('new-checkout', new UserBuilder('u-0001').build(), false), true);
    // Registration is retried slowly and succeeds once the quota allows it.
    fake.setRegisterResponse(200);
    await fake.waitFor('registration');
    await eventually(async () => (await status(agent))['registration'] === 'registered');
  });

  it('reconnects when the upstream goes silent, and after abnormal closes', async () => {
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    cleanups.push(() => fake.stop());
    const agent = await startAgent(agentConfig(fake.streamingUrl));
    cleanups.push(() => agent.close());
    await fake.waitFor('connection');
    await eventually(async () => (await readiness(agent))[1] === 'Healthy');
    for (const code of [1011, 1001, 4000]) {
      const next = fake.waitFor('connection');
      fake.closeAllSockets(code, 'bye');
      await next;
    }
    assert.ok(fake.connections >= 4);
    const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.ok(Number(/^featbit_agent_upstream_reconnects_total (\d+)$/m.exec(metrics)?.[1]) >= 3, 'reconnects counted');
    assert.match(metrics, /^featbit_agent_leader 1$/m);
    // Pings flow every interval and are answered.
    await eventually(() => fake.received.some((m) => m['messageType'] === 'ping'));
  });
});
