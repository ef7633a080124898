import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postBootstrap } from '../support/agent-app.js';
import { WebSocket } from 'ws';
import { AgentProcess } from '../support/agent-process.js';
import { REDIS_URL, deleteKeys, freshPrefix } from '../support/redis.js';
import { tokenFor } from '../support/sdk-socket.js';
import { SAMPLE_DATA_FILE, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { parseTimestamp } from '../../src/store/data-set.js';

/**
 * A server SDK as far as reconnection goes: after any close but 4003 it reconnects (here to the
 * first endpoint that accepts, as a load balancer would pick a ready pod) and asks for everything
 * newer than what it holds.
 */
class ReconnectingSdk {
  socket?: WebSocket;
  at = -1;
  version = 0;
  darkModeUpdatedAt = 0;
  connects = 0;
  private stopped = false;

  constructor(private readonly endpoints: string[]) {}

  connect(): Promise<void> {
    return new Promise((resolve) => this.tryEndpoint(0, resolve));
  }

  /** Closes the socket for good: no reconnection, so the test file can end. */
  stop(): void {
    this.stopped = true;
    this.socket?.terminate();
  }

  private tryEndpoint(index: number, ready: () => void): void {
    if (this.stopped) return;
    const url = this.endpoints[index % this.endpoints.length]!;
    const socket = new WebSocket(`${url}/streaming?type=server&token=${tokenFor(SERVER_SECRET)}`);
    socket.once('error', () => undefined);
    socket.once('unexpected-response', () => socket.terminate());
    socket.once('open', () => {
      if (this.stopped) return socket.terminate();
      this.socket = socket;
      this.at = index % this.endpoints.length;
      this.connects++;
      socket.send(JSON.stringify({ messageType: 'data-sync', data: { timestamp: this.version } }));
    });
    let answered = false;
    socket.on('message', (raw: Buffer) => {
      const message = JSON.parse(raw.toString()) as { data: { featureFlags: Record<string, unknown>[] } };
      for (const flag of message.data.featureFlags) {
        const ts = parseTimestamp(flag['updatedAt']);
        this.version = Math.max(this.version, ts);
        if (flag['key'] === 'dark-mode') this.darkModeUpdatedAt = Math.max(this.darkModeUpdatedAt, ts);
      }
      if (!answered) {
        answered = true;
        ready();
      }
    });
    socket.once('close', (code) => {
      if (this.socket === socket) this.socket = undefined;
      if (code === 4003 || this.stopped) return;
      // Before it ever opened: try the next endpoint at once; after: reconnect shortly, like SDKs.
      setTimeout(() => this.tryEndpoint(answered ? 0 : index + 1, ready), answered ? 50 + Math.random() * 200 : 20);
    });
  }
}

describe('graceful drain on SIGTERM', () => {
  const prefix = freshPrefix();
  after(() => deleteKeys(REDIS_URL, prefix));

  it('moves 1,000 connected SDKs to a second agent with no change lost', async () => {
    const env = { MODE: 'offline', STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: prefix, SHUTDOWN_TIMEOUT_SECONDS: '10' };
    const a = await AgentProcess.start({ ...env, DATA_FILE: SAMPLE_DATA_FILE });
    const b = await AgentProcess.start(env);
    let sdks: ReconnectingSdk[] = [];
    try {
      await b.until(async () => (await b.readiness())[0] === 200);
      sdks = Array.from({ length: 1000 }, () => new ReconnectingSdk([a.wsUrl, b.wsUrl]));
      for (let i = 0; i < sdks.length; i += 100) await Promise.all(sdks.slice(i, i + 100).map((s) => s.connect()));
      assert.ok(sdks.every((s) => s.at === 0 && s.version > 0));

      const stopped = a.kill('SIGTERM');
      const signalledAt = Date.now();
      // Readiness fails first.
      await a.until(async () => (await a.readiness())[0] === 503, 5000);
      // A change made through the other agent while the first drains.
      const body = sampleBootstrap();
      const changedAt = new Date(Date.now() + 60_000).toISOString();
      body.items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!['updatedAt'] = changedAt;
      const response = await postBootstrap(b.httpUrl, body);
      assert.equal(response.status, 200);
      await stopped;
      const drainedMs = Date.now() - signalledAt;
      assert.ok(drainedMs < 15_000, `drain took ${drainedMs} ms; agent output:\n${a.logs.slice(-6000)}`);
      await b.until(async () => sdks.every((s) => s.socket !== undefined && s.at === 1), 20_000);
      await b.until(async () => sdks.every((s) => s.darkModeUpdatedAt === Date.parse(changedAt)), 10_000);
      assert.ok(sdks.every((s) => s.connects >= 2));
    } finally {
      for (const s of sdks) s.stop();
      await a.kill();
      await b.kill();
    }
  });
});
