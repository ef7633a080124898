import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { AgentProcess } from '../support/agent-process.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { freePort } from '../support/redis.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

/** Upstream faults against real agent processes: bad items, huge messages, dead peers, failures worth a cause. */

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function startFake(data = sampleBootstrap()): Promise<FakeFeatBitServer> {
  const fake = await FakeFeatBitServer.start({ data });
  cleanups.push(() => fake.stop());
  return fake;
}

async function startAgent(fake: FakeFeatBitServer | string, env: Record<string, string> = {}): Promise<AgentProcess> {
  const streamingUri = typeof fake === 'string' ? fake : fake.streamingUrl;
  const agent = await AgentProcess.start({ MODE: 'agent', STREAMING_URI: streamingUri, ...env });
  cleanups.push(() => agent.kill());
  return agent;
}

async function serverFlagKeys(agent: AgentProcess): Promise<string[]> {
  const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
  const body = (await response.json()) as { data: { featureFlags: { key: string }[] } };
  return body.data.featureFlags.map((f) => f.key);
}

async function metric(agent: AgentProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

async function statusJson(agent: AgentProcess): Promise<Record<string, unknown>> {
  return (await (await fetch(`${agent.httpUrl}/status.json`)).json()) as Record<string, unknown>;
}

describe('chaos: invalid items from FeatBit', () => {
  it('an rp_full with a flag without key and one with an unparsable date: the others are served, the two counted and logged', async () => {
    const data = sampleBootstrap();
    const good = data.items[0]!.featureFlags.map((f) => String(f['key']));
    data.items[0]!.featureFlags.push(
      { id: 'no-key', envId: ENV_ID, name: 'no key', updatedAt: '2026-01-05T00:00:00Z', variations: [] },
      { id: 'bad-date', envId: ENV_ID, key: 'bad-date', updatedAt: 'the fifth of January', variations: [] },
    );
    const fake = await startFake(data);
    const agent = await startAgent(fake);
    await agent.until(async () => (await agent.status())['serves'] === 'shop:prod');
    assert.deepEqual((await serverFlagKeys(agent)).sort(), [...good].sort());
    assert.equal(await metric(agent, 'featbit_agent_upstream_items_skipped_total'), 2);
    await agent.until(() => Promise.resolve(agent.logs.includes('invalid items')));
    assert.match(agent.logs, /key is required/);
    assert.match(agent.logs, /updatedAt is not a date-time/);
    await agent.until(async () => (await statusJson(agent))['syncState'] === 'Stable');

    // A live patch with one bad and one good flag: the good one is served, the bad one counted.
    fake.sendToAgents({
      messageType: 'data-sync',
      data: {
        eventType: 'patch',
        featureFlags: [
          { id: 'patched-bad', envId: ENV_ID, name: 'bad', updatedAt: '2026-02-01T00:00:00Z', variations: [] },
          { id: 'patched-good', envId: ENV_ID, key: 'patched-good', updatedAt: '2026-02-01T00:00:00Z', variations: [] },
        ],
        segments: [],
      },
    });
    await agent.until(async () => (await serverFlagKeys(agent)).includes('patched-good'));
    assert.equal(await metric(agent, 'featbit_agent_upstream_items_skipped_total'), 3);
    assert.equal((await statusJson(agent))['upstreamItemsSkipped'], 3);
  });

  it('a data-sync that cannot be handled at all makes the agent ask again', async () => {
    const fake = await startFake();
    const agent = await startAgent(fake);
    await agent.until(async () => (await agent.status())['serves'] === 'shop:prod');
    const asked = fake.waitFor('data-sync-request');
    fake.sendToAgents({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: { not: 'an array' }, segments: [] } });
    await asked;
    await agent.until(async () => (await statusJson(agent))['syncState'] === 'Stable');
  });
});

describe('chaos: upstream message size', () => {
  it('UPSTREAM_MAX_PAYLOAD_MB bounds the upstream socket and a message over it is reported; the default takes it', async () => {
    const data = sampleBootstrap();
    data.items[0]!.featureFlags.push({ id: 'huge', envId: ENV_ID, key: 'huge', updatedAt: '2026-01-05T00:00:00Z', variations: [], pad: 'h'.repeat(1_500_000) });
    const fake = await startFake(data);
    const small = await startAgent(fake, { UPSTREAM_MAX_PAYLOAD_MB: '1' });
    await small.until(async () => (await statusJson(small))['upstreamProblem'] === 'payload-too-large');
    assert.equal((await small.status())['serves'], '', 'nothing was applied');
    // The log line reaches the pipe a little after status changes.
    await small.until(() => Promise.resolve(small.logs.includes('UPSTREAM_MAX_PAYLOAD_MB')));

    const roomy = await startAgent(fake);
    await roomy.until(async () => (await serverFlagKeys(roomy)).includes('huge'));
  });
});

describe('chaos: upstream connection', () => {
  it('the relay-proxy socket has TCP keepalive on', { skip: !existsSync('/proc/net/tcp') && 'needs Linux /proc/net/tcp' }, async () => {
    const fake = await startFake();
    const agent = await startAgent(fake);
    await agent.until(async () => (await agent.status())['serves'] === 'shop:prod');
    const port = fake.agentPorts.at(-1)!;
    // The timer column of the agent's end of the connection: 02 = keepalive timer armed.
    await agent.until(() => Promise.resolve(tcpTimer(port, fake.port) === '02'), 5000);
  });

  it('a failure to reach FeatBit is logged with its cause and errno code', async () => {
    const port = await freePort();
    const agent = await startAgent(`ws://127.0.0.1:${port}`);
    await agent.until(() => Promise.resolve(agent.logs.includes('registration failed') && agent.logs.includes('upstream connection closed')));
    assert.match(agent.logs, /ECONNREFUSED/);
    const registration = agent.logs.slice(agent.logs.indexOf('registration failed'), agent.logs.indexOf('registration failed') + 600);
    assert.match(registration, /ECONNREFUSED/, registration);
  });
});

/** The `tr` field of /proc/net/tcp for the connection local:remote on 127.0.0.1, or undefined. */
function tcpTimer(localPort: number, remotePort: number): string | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 6) continue;
      const local = parseInt(fields[1]!.split(':').at(-1)!, 16);
      const remote = parseInt(fields[2]!.split(':').at(-1)!, 16);
      if (local === localPort && remote === remotePort && fields[3] === '01') return fields[5]!.split(':')[0];
    }
  }
  return undefined;
}
