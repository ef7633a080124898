import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { agentConfig, startAgent } from '../support/agent-app.js';
import { AgentProcess } from '../support/agent-process.js';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { ENV_ID, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { SqliteFlagStore } from '../../src/store/sqlite/sqlite-flag-store.js';
import { parseBootstrap } from '../../src/store/data-set.js';

/**
 * SQLite faults with real agents against the fake FeatBit: the file is a cache, so neither a full
 * disk nor a corrupt file may stop serving or start-up.
 */

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-sqlite-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `check` until it holds (status and metrics give no event to await). */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function json(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

async function metric(httpUrl: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

async function serverFlags(httpUrl: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
  const body = (await response.json()) as { data: { featureFlags: Record<string, unknown>[] } };
  return body.data.featureFlags;
}

describe('chaos: SQLite disk full', () => {
  it('keeps serving (polling and streaming agree), says so in status and metrics, and writes again once space returns', async () => {
    Logger.overrideLogger(false);
    const path = join(tempDir(), 'featbit.db');
    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    cleanups.push(() => fake.stop());
    const agent = await startAgent(agentConfig(fake.streamingUrl, { store: { type: 'sqlite', path, writeRetry: { baseMs: 50, capMs: 300 } } }));
    cleanups.push(() => agent.close());
    await eventually(() => agent.store.data.isPopulated);
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
    cleanups.push(() => sdk.close());
    await sdk.opened;
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    assert.equal((await sdk.next()).data['eventType'], 'full');

    // The disk is full: the file cannot grow by a single page.
    const store = agent.store as SqliteFlagStore;
    await store.flagsDataSource.query('PRAGMA max_page_count = 1');
    fake.upsertFlag(ENV_ID, { id: 'big-flag', key: 'big-flag', isEnabled: true, variations: [], pad: 'p'.repeat(300_000) });

    const push = await sdk.next();
    assert.equal((push.data['featureFlags'] as Record<string, unknown>[])[0]?.['key'], 'big-flag', 'streaming SDKs get the change');
    assert.ok((await serverFlags(agent.httpUrl)).some((f) => f['key'] === 'big-flag'), 'polling SDKs get it too');
    await eventually(async () => ((await json(`${agent.httpUrl}/status.json`))['store'] as Record<string, unknown>)['state'] === 'degraded');
    const degraded = (await json(`${agent.httpUrl}/status.json`))['store'] as Record<string, unknown>;
    assert.equal(degraded['problem'], 'disk-full');
    assert.equal(await metric(agent.httpUrl, 'featbit_agent_store_degraded'), 1);
    assert.ok(((await metric(agent.httpUrl, 'featbit_agent_store_write_failures_total')) ?? 0) >= 1);
    const readiness = await fetch(`${agent.httpUrl}/health/readiness`);
    assert.deepEqual([readiness.status, await readiness.text()], [200, 'Degraded']);
    assert.equal((await json(`${agent.httpUrl}/status.json`))['syncState'], 'Stable', 'upstream sync is not disturbed');

    // Space returns: the retry brings the file up to date, status and metrics clear.
    await store.flagsDataSource.query('PRAGMA max_page_count = 1073741823');
    await eventually(async () => ((await json(`${agent.httpUrl}/status.json`))['store'] as Record<string, unknown>)['state'] === 'ok');
    assert.equal(await metric(agent.httpUrl, 'featbit_agent_store_degraded'), 0);
    fake.upsertFlag(ENV_ID, { id: 'after-flag', key: 'after-flag', isEnabled: true, variations: [] });
    await sdk.next();
    await agent.close();

    const reopened = await SqliteFlagStore.open({ path });
    cleanups.push(() => reopened.close());
    assert.equal(String(reopened.data.env(ENV_ID)?.flags.get('big-flag')?.json['pad']).length, 300_000);
    assert.ok(reopened.data.env(ENV_ID)?.flags.has('after-flag'));
  });
});

describe('chaos: corrupt SQLite file at start', () => {
  it('the agent process starts, moves the file aside and serves after sync', async () => {
    const dir = tempDir();
    const path = join(dir, 'featbit.db');
    // A real store file, then every page after the header overwritten.
    const first = await SqliteFlagStore.open({ path });
    await first.replaceAll(parseBootstrap(sampleBootstrap()), { pushAll: false });
    await first.close();
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(size - 4096, 0x5a), 0, size - 4096, 4096);
    closeSync(fd);

    const fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
    cleanups.push(() => fake.stop());
    const agent = await AgentProcess.start({ MODE: 'agent', STREAMING_URI: fake.streamingUrl, STORE: 'sqlite', SQLITE_PATH: path, SHUTDOWN_TIMEOUT_SECONDS: '2' });
    cleanups.push(() => agent.kill());
    await agent.until(async () => (await agent.status())['serves'] === 'shop:prod');
    assert.ok((await serverFlags(agent.httpUrl)).some((f) => f['key'] === 'dark-mode'));
    const aside = readdirSync(dir).filter((name) => name.startsWith('featbit.db.corrupt-'));
    assert.equal(aside.length, 1, `files: ${readdirSync(dir).join(', ')}`);
    assert.match(agent.logs, /moved aside/);
    assert.equal((await agent.status())['storeState'], 'ok', JSON.stringify(await agent.status()));
    // Healthy once the sync state is Stable too (it follows the store write).
    await agent.until(async () => (await agent.readiness()).join(' ') === '200 Healthy');

    // The rebuilt file serves the next start at once, before FeatBit answers.
    await agent.kill('SIGTERM');
    await fake.pause();
    const again = await AgentProcess.start({ MODE: 'agent', STREAMING_URI: fake.streamingUrl, STORE: 'sqlite', SQLITE_PATH: path });
    cleanups.push(() => again.kill());
    assert.equal((await again.status())['serves'], 'shop:prod');
    await fake.resume();
  });
});
