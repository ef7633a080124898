import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import fc from 'fast-check';
import { FbClientBuilder, UserBuilder, type IFbClient } from '@featbit/node-server-sdk';
import type { StreamingLimits } from '../../src/config/agent-config.js';
import { offlineConfig, postBootstrap, startAgent, type RunningAgent } from '../support/agent-app.js';
import { SdkSocket, tokenFor, type Received } from '../support/sdk-socket.js';
import { decodeStreamingToken } from '../../src/credentials/streaming-token.js';
import { CLIENT_SECRET, SAMPLE_DATA_FILE, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { DEFAULT_STREAMING_LIMITS } from '../../src/streaming/featbit-ws.adapter.js';
import { heldBytes } from '../../src/streaming/fan-out.js';
import { ConnectionRegistry, type Connection } from '../../src/streaming/connection-registry.js';
import { AgentProcess } from '../support/agent-process.js';

/**
 * Hostile WebSocket clients (issue 11): each bound is reproduced as an attack, and every test also
 * checks that a well-behaved SDK on the same agent keeps being served.
 */

/** Test limits: generous rates unless a test is about the rate. */
function limits(overrides: Partial<StreamingLimits>): StreamingLimits {
  return { ...DEFAULT_STREAMING_LIMITS, messagesPerSecond: 10_000, messageBurst: 10_000, ...overrides };
}

function agentWith(overrides: Partial<StreamingLimits>): Promise<RunningAgent> {
  return startAgent(offlineConfig({ streaming: limits(overrides) }));
}

/** An agent whose full payload is about `payloadBytes` (a realistic large environment). */
async function agentWithPayload(overrides: Partial<StreamingLimits>, payloadBytes: number): Promise<RunningAgent> {
  const agent = await agentWith(overrides);
  const body = sampleBootstrap();
  const flag = body.items[0]?.featureFlags[0];
  assert.ok(flag);
  flag['description'] = 'd'.repeat(payloadBytes);
  assert.equal((await postBootstrap(agent.httpUrl, body)).status, 200);
  return agent;
}

async function serverSocket(agent: RunningAgent): Promise<SdkSocket> {
  const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
  await sdk.opened;
  return sdk;
}

/** Asserts that `sdk` still gets a pong for a ping. */
async function served(sdk: SdkSocket): Promise<void> {
  sdk.send({ messageType: 'ping', data: null });
  assert.equal((await sdk.next()).messageType, 'pong');
}

/** The agent side of the connection opened most recently. */
function newestConnection(agent: RunningAgent): Connection {
  const all = agent.app.get(ConnectionRegistry).all();
  const newest = all.reduce<Connection | undefined>((best, c) => (best === undefined || c.id > best.id ? c : best), undefined);
  assert.ok(newest, 'the agent holds no connection');
  return newest;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('hostile WebSocket client: a socket that never reads', () => {
  const MAX_BUFFERED = 1024 * 1024;
  const BIG_FIELD = 200 * 1024;
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWithPayload({ maxBufferedBytes: MAX_BUFFERED }, BIG_FIELD);
  });
  after(async () => {
    await agent.close();
  });

  for (const [name, request] of [
    ['data-sync with timestamp 0', JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0 } })],
    ['echo of a large value', JSON.stringify({ messageType: 'echo', data: 'e'.repeat(BIG_FIELD) })],
  ] as const) {
    it(`drops a socket that keeps asking for ${name} without reading, while others are served`, async () => {
      const bystander = await serverSocket(agent);
      const attacker = await serverSocket(agent);
      const victim = newestConnection(agent);
      // Stop reading: the agent's writes pile up in the kernel, then in its own buffers.
      const raw = (attacker.socket as unknown as { _socket: Socket })._socket;
      raw.pause();
      const agentClosed = new Promise<void>((resolve) => victim.socket.once('close', () => resolve()));
      let maxBuffered = 0;
      victim.socket.on('message', () => {
        maxBuffered = Math.max(maxBuffered, victim.socket.bufferedAmount);
      });
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      // 600 requests × 200 KiB = 120 MiB of replies if nothing bounded them.
      const requests = 600;
      let sent = 0;
      let closedEarly = false;
      void agentClosed.then(() => {
        closedEarly = true;
      });
      while (sent < requests && !closedEarly) {
        // The attacker shares this process: it waits while its own unsent bytes pile up (the
        // agent reads one message a turn), so RSS measures what the agent holds.
        while (attacker.socket.bufferedAmount > 4 * 1024 * 1024 && !closedEarly) await new Promise((resolve) => setTimeout(resolve, 5));
        attacker.socket.send(request);
        sent++;
        if (sent % 20 === 0) {
          rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      await withTimeout(agentClosed, 10_000, 'the agent dropping the non-reading socket');
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      // The agent held at most the bound plus one reply beyond the kernel's buffers.
      assert.ok(maxBuffered <= MAX_BUFFERED + 2 * BIG_FIELD + 4096, `agent buffered ${maxBuffered} bytes for one socket`);
      assert.ok(rssPeak - rssBefore < 64 * 1024 * 1024, `RSS grew by ${Math.round((rssPeak - rssBefore) / 1048576)} MiB`);
      assert.ok((agent.app.get(ConnectionRegistry).bounded.get('slow_consumer') ?? 0) >= 1);
      await served(bystander);
      bystander.send({ messageType: 'data-sync', data: { timestamp: 0 } });
      assert.equal((await bystander.next()).data['eventType'], 'full');
      bystander.close();
      attacker.socket.terminate();
    });
  }
});

describe('hostile WebSocket client: a socket that never reads, asking for small replies', () => {
  // Small replies (a pong is 36 bytes on the wire) each leave Node a queued write holding more
  // memory than its bytes: ws sent a pong as two writes, about 230 bytes held per pong, so a bound
  // on bytes alone let one socket make the agent hold 6.8 times WS_MAX_BUFFERED_BYTES.
  const MAX_BUFFERED = 1024 * 1024;
  let agent: RunningAgent;
  // The agent runs in this process: its memory is read after a full collection.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const held = (): number => {
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
  before(async () => {
    // No message rate limit: the test sends hundreds of thousands of pings.
    agent = await agentWith({ maxBufferedBytes: MAX_BUFFERED, messagesPerSecond: 1e9, messageBurst: 1e9 });
  });
  after(async () => {
    await agent.close();
  });

  /** A server socket that stops reading, and the agent's side of it. */
  async function nonReading(): Promise<{ attacker: SdkSocket; victim: Connection; raw: Socket }> {
    const attacker = await serverSocket(agent);
    const victim = newestConnection(agent);
    const raw = (attacker.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    return { attacker, victim, raw };
  }

  /** Sends `count` messages of `type` and waits until the agent has handled them (or dropped the socket). */
  async function flood(attacker: SdkSocket, victim: Connection, count: number, type = 'ping'): Promise<void> {
    const registry = agent.app.get(ConnectionRegistry);
    const target = (registry.messagesIn.get(type) ?? 0) + count;
    const message = JSON.stringify({ messageType: type, data: type === 'echo' ? 1 : null });
    for (let i = 0; i < count; i++) attacker.socket.send(message);
    while ((registry.messagesIn.get(type) ?? 0) < target && victim.socket.readyState === WebSocket.OPEN) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  for (const type of ['ping', 'echo']) {
    it(`holds at most about WS_MAX_BUFFERED_BYTES of memory for a socket asking for ${type} replies before dropping it`, async () => {
      const bystander = await serverSocket(agent);
      const { attacker, victim } = await nonReading();
      const closed = new Promise<void>((resolve) => victim.socket.once('close', () => resolve()));
      const dropped = agent.app.get(ConnectionRegistry).bounded.get('slow_consumer') ?? 0;
      const base = held();
      let peak = 0;
      let sent = 0;
      // The kernel takes the first megabyte or so of replies; 300,000 replies are 10 MiB.
      while (victim.socket.readyState === WebSocket.OPEN && sent < 300_000) {
        await flood(attacker, victim, 5000, type);
        sent += 5000;
        if (victim.socket.readyState === WebSocket.OPEN) peak = Math.max(peak, held() - base);
      }
      await withTimeout(closed, 5000, 'the agent dropping the non-reading socket');
      assert.equal(agent.app.get(ConnectionRegistry).bounded.get('slow_consumer'), dropped + 1);
      assert.ok(peak < 2 * MAX_BUFFERED, `the agent held ${(peak / 1048576).toFixed(1)} MiB for one socket with WS_MAX_BUFFERED_BYTES at 1 MiB (${sent} messages)`);
      await served(bystander);
      bystander.close();
      attacker.socket.terminate();
    });
  }

  it('fails the queued writes of a dropped socket with one shared error, not an error built per write', async () => {
    // Node builds an ERR_STREAM_DESTROYED, stack trace and all, for every write still queued on a
    // socket destroyed without an error: 150,000 queued writes held the event loop for 0.9 s.
    const { attacker, victim } = await nonReading();
    const socket = (victim.socket as unknown as { _socket: Socket })._socket;
    for (let i = 0; i < 100 && socket.writableLength === 0; i++) await flood(attacker, victim, 2000);
    assert.ok(socket.writableLength > 0, 'no write was queued');
    const errors: (Error | null | undefined)[] = [];
    for (let i = 0; i < 3; i++) socket.write(Buffer.from('x'), (error) => errors.push(error));
    victim.socket.terminate();
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 5000, 'the socket closing');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 3);
    assert.ok(errors[0] instanceof Error);
    assert.ok(errors.every((error) => error === errors[0]), `each queued write failed with an error of its own (${errors.map((e) => (e as { code?: string })?.code).join(', ')})`);
    attacker.socket.terminate();
  });
});

describe('hostile WebSocket client: sockets holding incomplete messages (WS_INBOUND_BUDGET_BYTES)', () => {
  const BUDGET = 4 * 1024 * 1024;
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWith({ inboundBudgetBytes: BUDGET });
  });
  after(async () => {
    await agent.close();
  });

  /**
   * A raw socket past the handshake that sends all but the last byte of a 1 MiB text frame;
   * `closed` resolves with whether the agent closed it within 5 s.
   */
  async function partialFrame(): Promise<{ socket: Socket; closed: Promise<boolean> }> {
    const socket = connect(agent.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /streaming?type=server&token=${tokenFor(SERVER_SECRET)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const head = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
    assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
    const length = 1024 * 1024 - 16;
    const header = Buffer.alloc(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    randomBytes(4).copy(header, 10);
    socket.write(header);
    socket.write(Buffer.alloc(length - 1, 0x61));
    return { socket, closed };
  }

  it('closes sockets past the budget, so incomplete frames cannot hold 1 MiB per socket without a bound, and keeps serving', async () => {
    const bystander = await serverSocket(agent);
    const attackers = await Promise.all(Array.from({ length: 8 }, () => partialFrame()));
    const closed = await Promise.all(attackers.map((a) => a.closed));
    try {
      // 8 sockets of 1 MiB against a 4 MiB budget: the ones past it are closed at once (before,
      // none was: the heartbeat would have reaped them after 30 to 50 s).
      const open = closed.filter((c) => !c).length;
      assert.ok(open <= 4, `${open} of 8 sockets still hold an incomplete 1 MiB message`);
      assert.ok((agent.app.get(ConnectionRegistry).bounded.get('inbound_budget') ?? 0) >= 4);
      await served(bystander);
    } finally {
      for (const { socket } of attackers) socket.destroy();
      bystander.close();
    }
    // Released sockets give their share back: a new SDK's messages are handled.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await serverSocket(agent);
    next.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    assert.equal((await next.next()).data['eventType'], 'full');
    next.close();
  });
});

describe('hostile WebSocket client: several sockets that never read (WS_OUTBOUND_BUDGET_BYTES)', () => {
  const BUDGET = 4 * 1024 * 1024;
  const BIG_FIELD = 200 * 1024;
  let agent: RunningAgent;
  before(async () => {
    // Each socket may hold 8 MiB; together they may hold 4 MiB.
    agent = await agentWithPayload({ maxBufferedBytes: 8 * 1024 * 1024, outboundBudgetBytes: BUDGET }, BIG_FIELD);
  });
  after(async () => {
    await agent.close();
  });

  it('keeps what all non-reading sockets hold together within the budget, dropping sockets past it, and keeps serving', async () => {
    const bystander = await serverSocket(agent);
    const registry = agent.app.get(ConnectionRegistry);
    const attackers: SdkSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const attacker = await serverSocket(agent);
      (attacker.socket as unknown as { _socket: Socket })._socket.pause();
      attackers.push(attacker);
    }
    const request = JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0 } });
    // Sockets being dropped still count until they close; the open ones are what the agent keeps.
    const heldByOpen = (): number => registry.all().reduce((sum, c) => sum + (c.socket.readyState === WebSocket.OPEN ? heldBytes(c.socket) : 0), 0);
    let peak = 0;
    // 4 sockets × 300 requests × 200 KiB: 240 MiB of replies if nothing bounded them.
    for (let round = 0; round < 300; round++) {
      const open = attackers.filter((a) => a.socket.readyState === WebSocket.OPEN);
      if (open.length === 0) break;
      for (const attacker of open) {
        if (attacker.socket.bufferedAmount < 4 * 1024 * 1024) attacker.socket.send(request);
      }
      await new Promise((resolve) => setImmediate(resolve));
      peak = Math.max(peak, heldByOpen());
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    peak = Math.max(peak, heldByOpen());
    // The budget, plus a reply per socket (the total is re-read at most once a millisecond).
    assert.ok(peak <= BUDGET + 4 * (BIG_FIELD + 65_536), `the agent's sockets held ${(peak / 1048576).toFixed(1)} MiB together against a budget of 4 MiB`);
    assert.ok((registry.bounded.get('outbound_budget') ?? 0) >= 1);
    await served(bystander);
    bystander.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    assert.equal((await bystander.next()).data['eventType'], 'full');
    bystander.close();
    for (const attacker of attackers) attacker.socket.terminate();
  });
});

describe('hostile WebSocket client: MAX_CONNECTIONS', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWith({ maxConnections: 3 });
  });
  after(async () => {
    await agent.close();
  });

  it('refuses the upgrade with 503 past the cap, serves the open sockets, and accepts again once one closes', async () => {
    const open: SdkSocket[] = [];
    const agentSides: Connection[] = [];
    for (let i = 0; i < 3; i++) {
      open.push(await serverSocket(agent));
      agentSides.push(newestConnection(agent));
    }
    const refused = new WebSocket(`${agent.wsUrl}/streaming?type=server&token=${tokenFor(SERVER_SECRET)}`);
    const status = await new Promise<number>((resolve, reject) => {
      refused.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      refused.once('open', () => reject(new Error('the upgrade past the cap was accepted')));
      refused.once('error', reject);
    });
    assert.equal(status, 503);
    for (const sdk of open) await served(sdk);
    const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
    assert.match(metrics, /featbit_agent_websocket_bounded_total\{reason="max_connections"\} 1\b/);

    const gone = new Promise<void>((resolve) => agentSides[0]?.socket.once('close', () => resolve()));
    open.shift()?.close();
    await gone;
    const again = await serverSocket(agent);
    await served(again);
    for (const sdk of [...open, again]) sdk.close();
  });

  it('opens exactly 3 of 40 upgrades sent at once past a cap of 3 (queued upgrades count toward the cap)', async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Connected first, then all 40 requests written in one go. (In this process the agent still
    // reads them one turn each; the abuse bench's attacker, another process, sends them together.)
    const sockets = await Promise.all(
      Array.from({ length: 40 }, () => new Promise<Socket>((resolve, reject) => {
        const socket = connect(agent.port, '127.0.0.1', () => resolve(socket));
        socket.once('error', reject);
      })),
    );
    const statuses = sockets.map(
      (socket) =>
        new Promise<number>((resolve) => {
          let received = '';
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString('latin1');
            const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
            if (status) resolve(Number(status[1]));
          });
          socket.on('error', () => resolve(0));
          socket.on('close', () => resolve(0));
        }),
    );
    const request = `GET /streaming?type=server&token=${tokenFor(SERVER_SECRET)} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    for (const socket of sockets) socket.write(request);
    try {
      const outcomes = await Promise.all(statuses);
      assert.equal(outcomes.filter((s) => s === 101).length, 3, JSON.stringify(outcomes));
      assert.equal(outcomes.filter((s) => s === 503).length, 37);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('hostile WebSocket client: WS_UPGRADES_PER_SECOND', () => {
  /** Opens a socket with these headers; resolves to 101 when it opened (then closes it), else the status. */
  function upgrade(agent: RunningAgent, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter?: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${agent.wsUrl}/streaming?type=server&token=${tokenFor(SERVER_SECRET)}`, { headers });
      ws.once('open', () => {
        ws.close();
        resolve({ status: 101 });
      });
      ws.once('unexpected-response', (_request, response) => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
      ws.once('error', reject);
    });
  }

  it('refuses an address past its burst with 429 and Retry-After before the upgrade; other addresses (TRUST_PROXY) still connect', async () => {
    // One upgrade a second with a burst of 3: 40 attempts in a row outrun the refill (no timing is
    // asserted: only that the bound acts, for this address alone).
    const agent = await startAgent(offlineConfig({ streaming: limits({ upgradesPerSecond: 1, upgradeBurst: 3 }), http: { rateLimitPerSecond: 0, rateLimitBurst: 1, refusalsPerSecond: 0, refusalBurst: 1, firstRequestTimeoutSeconds: 10, maxConnections: 0, trustProxy: ['127.0.0.1'] } }));
    try {
      const first = await upgrade(agent, { 'x-forwarded-for': '198.51.100.1' });
      assert.equal(first.status, 101);
      const answers: { status: number; retryAfter?: string }[] = [];
      for (let i = 0; i < 40; i++) answers.push(await upgrade(agent, { 'x-forwarded-for': '198.51.100.1' }));
      const refused = answers.filter((a) => a.status === 429);
      assert.ok(refused.length > 0, 'no upgrade refused');
      assert.ok(answers.every((a) => a.status === 101 || a.status === 429), JSON.stringify(answers.map((a) => a.status)));
      assert.ok(refused.every((a) => Number(a.retryAfter) >= 1), 'Retry-After on every 429');
      assert.equal((await upgrade(agent, { 'x-forwarded-for': '198.51.100.2' })).status, 101, 'another client behind the proxy');
      const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
      assert.match(metrics, new RegExp(`featbit_agent_websocket_bounded_total\\{reason="upgrade_rate"\\} ${refused.length}\\b`));
    } finally {
      await agent.close();
    }
  });
});

describe('hostile WebSocket client: message rate', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWith({ messagesPerSecond: 5, messageBurst: 10 });
  });
  after(async () => {
    await agent.close();
  });

  it('closes a socket that floods messages with 1008 and keeps serving others', async () => {
    const bystander = await serverSocket(agent);
    const flooder = await serverSocket(agent);
    let pongs = 0;
    flooder.socket.on('message', () => pongs++);
    for (let i = 0; i < 200; i++) flooder.send({ messageType: 'ping', data: null });
    const closed = await withTimeout(flooder.closed, 5000, 'the rate-limit close');
    assert.equal(closed.code, 1008);
    assert.ok(pongs <= 12, `${pongs} pongs answered past a burst of 10`);
    assert.equal(agent.app.get(ConnectionRegistry).bounded.get('rate_limit'), 1);
    await served(bystander);
    bystander.close();
  });

  it('counts WebSocket ping frames too', async () => {
    const flooder = await serverSocket(agent);
    for (let i = 0; i < 200; i++) flooder.socket.ping();
    assert.equal((await withTimeout(flooder.closed, 5000, 'the rate-limit close')).code, 1008);
  });
});

describe('hostile WebSocket client: a burst of messages in one read', () => {
  it('does not hold the event loop for the whole burst: a request that arrived with it is answered after a few of its messages, not all', async () => {
    // A real agent process, so it can be frozen (SIGSTOP) while the burst and the request reach
    // its socket buffers, and both are ready when it runs again. Message limits high enough to
    // admit the burst; the production defaults (20/s, burst 100) close such a socket sooner.
    const agent = await AgentProcess.start({ MODE: 'offline', DATA_FILE: SAMPLE_DATA_FILE, WS_MAX_MESSAGES_PER_SECOND: '10000', WS_MESSAGE_BURST: '10000' });
    const burst = 400;
    try {
      const socket = new WebSocket(`${agent.wsUrl}/streaming?type=client&token=${tokenFor(CLIENT_SECRET)}`, { perMessageDeflate: false });
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('open', resolve));
      // Each asks for every flag evaluated for its user; about 45 KiB in all, within the
      // receive window of a socket whose reader is stopped.
      const ask = JSON.stringify({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'burst', name: 'b', customizedProperties: [] } } });
      agent.signal('SIGSTOP');
      for (let i = 0; i < burst; i++) socket.send(ask);
      while (socket.bufferedAmount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const metrics = fetch(`${agent.httpUrl}/metrics`).then((response) => response.text());
      await new Promise((resolve) => setTimeout(resolve, 200));
      agent.signal('SIGCONT');
      const handled = Number(/featbit_agent_messages_in_total\{type="data-sync"\} (\d+)/.exec(await metrics)?.[1] ?? 0);
      // ws's default handled every message of a read before anything else: all 400 here.
      assert.ok(handled < burst / 2, `${handled} of the ${burst} messages were handled before the request`);
      socket.terminate();
    } finally {
      agent.signal('SIGCONT');
      await agent.kill();
    }
  });
});

describe('hostile WebSocket client: a dead (half-open) socket', () => {
  let agent: RunningAgent;
  let sdk: IFbClient | undefined;
  before(async () => {
    agent = await agentWith({ pingIntervalMs: 200, pingTimeoutMs: 1000 });
  });
  after(async () => {
    await sdk?.close();
    await agent.close();
  });

  /** Completes the upgrade by hand, then reads and discards everything and never answers a ping. */
  async function deadClient(): Promise<Socket> {
    const socket = connect(agent.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      `GET /streaming?type=server&token=${tokenFor(SERVER_SECRET)} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${agent.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const head = await new Promise<string>((resolve) => {
      let text = '';
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          socket.off('data', onData);
          resolve(text);
        }
      };
      socket.on('data', onData);
    });
    assert.match(head, /^HTTP\/1\.1 101 /);
    socket.on('data', () => undefined);
    return socket;
  }

  it('terminates a socket that never answers pings, and keeps live SDKs', async () => {
    sdk = new FbClientBuilder().sdkKey(SERVER_SECRET).streamingUri(agent.wsUrl).eventsUri(agent.httpUrl).logLevel('none').build();
    await sdk.waitForInitialization();
    const live = await serverSocket(agent);
    const dead = await deadClient();
    const registry = agent.app.get(ConnectionRegistry);
    assert.equal(registry.counts().server, 3);
    await withTimeout(new Promise((resolve) => dead.once('close', resolve)), 5000, 'the dead socket being terminated');
    // The live sockets answered several rounds of pings meanwhile and afterwards.
    let pings = 0;
    await withTimeout(
      new Promise<void>((resolve) => {
        live.socket.on('ping', () => {
          if (++pings === 5) resolve();
        });
      }),
      5000,
      'five pings to a live socket',
    );
    await served(live);
    assert.equal(registry.counts().server, 2);
    assert.equal(registry.bounded.get('ping_timeout'), 1);
    const flag = await sdk.boolVariation('dark-mode', new UserBuilder('u-1').build(), true);
    assert.equal(typeof flag, 'boolean');
    live.close();
  });
});

describe('hostile WebSocket client: per-connection user', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWith({ maxUserBytes: 4096, maxUserProperties: 20 });
  });
  after(async () => {
    await agent.close();
  });

  it('ignores a client user over the property count or byte bound, and keeps the previous user', async () => {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'client', CLIENT_SECRET);
    await sdk.opened;
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'u-ok', name: 'Ann' } } });
    assert.equal((await sdk.next()).data['userKeyId'], 'u-ok');
    const many = Array.from({ length: 21 }, (_, i) => ({ name: `p${i}`, value: 'v' }));
    const huge = { keyId: 'u-huge', name: 'n'.repeat(5000) };
    for (const user of [{ keyId: 'u-many', customizedProperties: many }, { keyId: 'u-many2', CustomizedProperties: many }, huge]) {
      sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user } });
      // Messages are handled in order: the next frame is the pong, so nothing was sent for the user.
      await served(sdk);
    }
    const connection = newestConnection(agent);
    assert.equal((connection.user as { keyId?: string } | undefined)?.keyId, 'u-ok');
    assert.equal(agent.app.get(ConnectionRegistry).bounded.get('user_too_large'), 3);
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0, user: { keyId: 'u-fine', customizedProperties: many.slice(0, 20) } } });
    assert.equal((await sdk.next()).data['userKeyId'], 'u-fine');
    sdk.close();
  });
});

describe('hostile WebSocket client: least privilege', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await agentWith({});
  });
  after(async () => {
    await agent.close();
  });

  it('closes type=server with a client secret with 4003, and never sends it server data', async () => {
    const sdk = SdkSocket.open(agent.wsUrl, `type=server&token=${tokenFor(CLIENT_SECRET)}`);
    await sdk.opened;
    sdk.send({ messageType: 'data-sync', data: { timestamp: 0 } });
    assert.deepEqual(await sdk.closed, { code: 4003, reason: 'invalid request, close by server' });
    assert.equal(await sdk.silentFor(0), true);
  });
});

describe('hostile WebSocket client: fuzzed handshakes and frames', () => {
  let agent: RunningAgent;
  let bystander: SdkSocket;
  before(async () => {
    agent = await agentWith({});
    bystander = await serverSocket(agent);
  });
  after(async () => {
    bystander.close();
    await agent.close();
  });

  /** A valid token with one character replaced, inserted or removed; or any string at all. */
  const tokens = fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ unit: fc.constantFrom(...'QBWSPHDXZU'), maxLength: 12 }).map((head) => head + SERVER_SECRET),
    fc.tuple(fc.constantFrom(SERVER_SECRET, CLIENT_SECRET), fc.nat(), fc.nat(60), fc.string({ maxLength: 3 }), fc.nat(2)).map(([secret, start, at, text, cut]) => {
      const token = tokenFor(secret, Date.now(), 2 + (start % 40));
      const i = at % token.length;
      return token.slice(0, i) + text + token.slice(i + cut);
    }),
  );

  it('closes every malformed or forged handshake with 4003 and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(tokens, fc.constantFrom('server', 'client', 'Server', 'relay-proxy', ''), async (token, type) => {
        const decoded = decodeStreamingToken(token, Date.now(), 30);
        // A mutation that still decodes to a held secret of the right type is a valid token.
        fc.pre(!(decoded.ok && agent.store.data.secret(decoded.secret)?.type === type));
        const sdk = SdkSocket.open(agent.wsUrl, `type=${encodeURIComponent(type)}&token=${encodeURIComponent(token)}`);
        await sdk.opened;
        assert.deepEqual(await sdk.closed, { code: 4003, reason: 'invalid request, close by server' });
      }),
      { numRuns: 150 },
    );
    await served(bystander);
  });

  const json = fc.json({ maxDepth: 3 }).map((text) => JSON.parse(text) as unknown);
  const frames = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc
      .record({
        messageType: fc.constantFrom('ping', 'PING', 'echo', 'data-sync', 'Data-Sync', 'rp-agent-status', 'pong', 'x', ''),
        data: fc.oneof(json, fc.record({ timestamp: json, user: json }), fc.record({ timestamp: fc.integer(), user: fc.record({ keyId: fc.string(), customizedProperties: json }) })),
      })
      .map((message) => JSON.stringify(message)),
  );

  for (const type of ['server', 'client'] as const) {
    it(`survives arbitrary text frames on a ${type} socket: only protocol replies, no close`, async () => {
      const sdk = SdkSocket.forSecret(agent.wsUrl, type, type === 'server' ? SERVER_SECRET : CLIENT_SECRET);
      await sdk.opened;
      let closed = false;
      void sdk.closed.then(() => {
        closed = true;
      });
      await fc.assert(
        fc.asyncProperty(fc.array(frames, { maxLength: 10 }), async (batch) => {
          for (const frame of batch) sdk.send(frame);
          sdk.send({ messageType: 'ping', data: null });
          // Messages are handled in order: everything up to the pong answers this batch.
          for (;;) {
            const message: Received = await sdk.next();
            assert.ok(['pong', 'echo', 'data-sync'].includes(message.messageType), message.messageType);
            if (message.messageType === 'pong') break;
          }
          assert.equal(closed, false);
        }),
        { numRuns: 100 },
      );
      await served(bystander);
      sdk.close();
    });
  }
});
