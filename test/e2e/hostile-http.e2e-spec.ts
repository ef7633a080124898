import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { SdkSocket } from '../support/sdk-socket.js';
import { SdkHttpGate } from '../../src/sdk/sdk-http-gate.js';

const USER = { keyId: 'u-1001', name: 'Ann', customizedProperties: [{ name: 'country', value: 'us' }] };
const JSON_TYPE = { 'content-type': 'application/json' };

/** A JSON body of about `bytes` bytes that is otherwise a valid request for its route. */
function padded(body: Record<string, unknown>, bytes: number): string {
  return JSON.stringify({ ...body, padding: 'x'.repeat(bytes) });
}

interface RawAnswer {
  /** The status line and headers, as received. */
  head: string;
  /** Body bytes written before the answer arrived. */
  sent: number;
}

/**
 * Declares a `declared`-byte body, writes `written` bytes of it, and waits for the answer (or fails
 * after `waitMs`: an agent that reads the body first never answers before the rest arrives).
 */
function rawUpload(port: number, path: string, headers: Record<string, string>, declared: number, written: number, waitMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${waitMs} ms after ${sent} of ${declared} body bytes`));
    }, waitMs);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head: received.slice(0, end), sent });
    });
    socket.on('connect', () => {
      const lines = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', `content-length: ${declared}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (sent < written) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

describe('hostile HTTP clients', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await agent.close();
  });
  const url = (path: string): string => `${agent.httpUrl}${path}`;

  async function serverPollServed(): Promise<void> {
    const response = await fetch(url('/api/public/sdk/server/latest-all'), { headers: { authorization: SERVER_SECRET } });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { data: { featureFlags: unknown[] } }).data.featureFlags.length, 6);
  }

  describe('least privilege', () => {
    it('refuses a client secret on the server endpoint with 403 and no flag data', async () => {
      for (const query of ['', '?timestamp=0', '?timestamp=1']) {
        const response = await fetch(url(`/api/public/sdk/server/latest-all${query}`), { headers: { authorization: CLIENT_SECRET } });
        assert.equal(response.status, 403, `client secret on latest-all${query}`);
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        const text = await response.text();
        assert.ok(!text.includes('featureFlags') && !text.includes('u-0001'), 'no flag data in the refusal');
      }
      await serverPollServed();
    });

    it('still serves the client secret where it belongs: client polling and OFREP', async () => {
      const client = await fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { authorization: CLIENT_SECRET, ...JSON_TYPE }, body: JSON.stringify(USER) });
      assert.equal(client.status, 200);
      const ofrep = await fetch(url('/ofrep/v1/evaluate/flags'), {
        method: 'POST',
        headers: { authorization: CLIENT_SECRET, ...JSON_TYPE },
        body: JSON.stringify({ context: { targetingKey: 'u-1001' } }),
      });
      assert.equal(ofrep.status, 200);
    });
  });

  describe('body limits', () => {
    const twoMiB = 2 * 1024 * 1024;
    const routes: [string, string, Record<string, string>, Record<string, unknown>][] = [
      ['client polling', '/api/public/sdk/client/latest-all', { authorization: CLIENT_SECRET }, USER],
      ['OFREP bulk', '/ofrep/v1/evaluate/flags', { authorization: CLIENT_SECRET }, { context: { targetingKey: 'u-1' } }],
      ['OFREP single', '/ofrep/v1/evaluate/flags/new-checkout', { authorization: SERVER_SECRET }, { context: { targetingKey: 'u-1' } }],
      ['insights', '/api/public/insight/track', { authorization: SERVER_SECRET }, { user: USER }],
    ];
    for (const [name, path, auth, body] of routes) {
      it(`answers a 2 MiB body on ${name} with 413, a problem body and CORS, and keeps serving`, async () => {
        const payload = path.includes('insight') ? JSON.stringify([JSON.parse(padded(body, twoMiB))]) : padded(body, twoMiB);
        const response = await fetch(url(path), { method: 'POST', headers: { ...auth, ...JSON_TYPE }, body: payload });
        assert.equal(response.status, 413);
        assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        const problem = (await response.json()) as { title: string; status: number; detail: string };
        assert.equal(problem.status, 413);
        assert.equal(problem.title, 'Content Too Large');
        assert.match(problem.detail, /1048576 bytes/);
        await serverPollServed();
      });
    }

    it('counts the bytes of a chunked upload that declares no length', async () => {
      const chunk = new TextEncoder().encode(`{"keyId":"u-1","name":"${'x'.repeat(256 * 1024)}`);
      let left = 8;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (left-- > 0) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const response = await fetch(url('/api/public/sdk/client/latest-all'), {
        method: 'POST',
        headers: { authorization: CLIENT_SECRET, ...JSON_TYPE },
        body: stream,
        duplex: 'half',
      });
      assert.equal(response.status, 413);
      await serverPollServed();
    });

    it('keeps an ordinary client user under the limit working', async () => {
      const many = { ...USER, customizedProperties: Array.from({ length: 500 }, (_, i) => ({ name: `p${i}`, value: 'v'.repeat(100) })) };
      const response = await fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { authorization: CLIENT_SECRET, ...JSON_TYPE }, body: JSON.stringify(many) });
      assert.equal(response.status, 200);
    });
  });

  describe('bootstrap', () => {
    let small: RunningAgent;
    before(async () => {
      small = await startAgent(offlineConfig({ sdkBodyLimitBytes: 64 * 1024, bootstrapBodyLimitBytes: 1024 * 1024 }));
    });
    after(async () => {
      await small.close();
    });

    function bootstrapOf(bytes: number): string {
      const body = sampleBootstrap();
      const flag = body.items[0]!.featureFlags[0]!;
      flag['description'] = 'd'.repeat(bytes);
      return JSON.stringify(body);
    }

    it('accepts a bootstrap above the SDK limit with the key, and refuses one above its own limit with 413', async () => {
      const headers = { authorization: RELAY_PROXY_KEY, ...JSON_TYPE };
      let response = await fetch(`${small.httpUrl}/api/public/proxy/bootstrap`, { method: 'POST', headers, body: bootstrapOf(512 * 1024) });
      assert.equal(response.status, 200);
      response = await fetch(`${small.httpUrl}/api/proxy/bootstrap`, { method: 'POST', headers, body: bootstrapOf(2 * 1024 * 1024) });
      assert.equal(response.status, 413);
      assert.match(((await response.json()) as { detail: string }).detail, /1048576 bytes/);
      response = await fetch(`${small.httpUrl}/api/public/sdk/client/latest-all`, {
        method: 'POST',
        headers: { authorization: CLIENT_SECRET, ...JSON_TYPE },
        body: padded(USER, 128 * 1024),
      });
      assert.equal(response.status, 413, 'the SDK limit is the small one');
    });

    for (const path of ['/api/public/proxy/bootstrap', '/api/proxy/bootstrap']) {
      for (const [who, authorization] of [['no key', undefined], ['a wrong key', 'rp-wrong'], ['a client secret', CLIENT_SECRET]] as const) {
        it(`refuses a 64 MiB upload to ${path} with ${who} with 401 before reading it`, async () => {
          const headers: Record<string, string> = { ...JSON_TYPE, ...(authorization ? { authorization } : {}) };
          const answer = await rawUpload(agent.port, path, headers, 64 * 1024 * 1024, 256 * 1024);
          assert.match(answer.head, /^HTTP\/1\.1 401 /);
          assert.match(answer.head, /access-control-allow-origin: \*/i);
          assert.ok(answer.sent < 64 * 1024 * 1024, 'answered before the body was sent');
          await serverPollServed();
        });
      }
    }

    it('checks the key before the body: not JSON without the key is 401, with it 400', async () => {
      let response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: JSON_TYPE, body: '{' });
      assert.equal(response.status, 401);
      response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: { authorization: RELAY_PROXY_KEY, ...JSON_TYPE }, body: '{' });
      assert.equal(response.status, 400);
    });
  });

  describe('status', () => {
    it('shows no project or environment keys without the admin key; counts and states stay public', async () => {
      for (const headers of [{}, { authorization: 'rp-wrong' }, { authorization: SERVER_SECRET }] as Record<string, string>[]) {
        const response = await fetch(url('/status.json'), { headers });
        assert.equal(response.status, 200);
        const text = await response.text();
        assert.ok(!text.includes('shop') && !text.includes('prod'), `keys in ${text}`);
        const body = JSON.parse(text) as Record<string, unknown>;
        assert.equal(body['serves'], undefined);
        assert.equal(body['environments'], 1);
        assert.equal(body['admin'], false);
        assert.equal(body['readiness'], 'Healthy');
        assert.deepEqual(body['connections'], { server: 0, client: 0 });
      }
      const keyed = (await (await fetch(url('/status.json'), { headers: { authorization: RELAY_PROXY_KEY } })).json()) as Record<string, unknown>;
      assert.equal(keyed['serves'], 'shop:prod');
      assert.equal(keyed['admin'], true);
      const page = await (await fetch(url('/'))).text();
      assert.ok(!page.includes('shop:prod'));
    });
  });

  describe('CORS on every answer', () => {
    const cases: [string, () => Promise<Response>, number][] = [
      ['400 (body is not JSON)', () => fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { authorization: CLIENT_SECRET, ...JSON_TYPE }, body: '{' }), 400],
      ['415 (not JSON at all)', () => fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { authorization: CLIENT_SECRET, 'content-type': 'application/xml' }, body: '<u/>' }), 415],
      ['413', () => fetch(url('/ofrep/v1/evaluate/flags'), { method: 'POST', headers: { authorization: CLIENT_SECRET, ...JSON_TYPE }, body: padded({}, 2 * 1024 * 1024) }), 413],
      ['404', () => fetch(url('/api/public/sdk/nothing-here')), 404],
      ['401', () => fetch(url('/api/public/sdk/server/latest-all')), 401],
      ['401 from the admin API', () => fetch(url('/api/public/proxy/status')), 401],
      ['400 invalid end user', () => fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { authorization: CLIENT_SECRET, ...JSON_TYPE }, body: '{"keyId":""}' }), 400],
      ['200', () => fetch(url('/api/public/sdk/server/latest-all'), { headers: { authorization: SERVER_SECRET } }), 200],
      ['200 health', () => fetch(url('/health/liveness')), 200],
    ];
    for (const [name, request, status] of cases) {
      it(`carries Access-Control-Allow-Origin on a ${name}`, async () => {
        const response = await request();
        assert.equal(response.status, status);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        await response.arrayBuffer();
      });
    }

    it('answers preflights on any path without credentials', async () => {
      for (const path of ['/api/public/sdk/client/latest-all', '/ofrep/v1/evaluate/flags', '/api/public/insight/track', '/health/liveness', '/nowhere']) {
        const response = await fetch(url(path), {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-user-agent' },
        });
        assert.equal(response.status, 204, path);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
        assert.match(response.headers.get('access-control-allow-headers') ?? '', /authorization/i);
      }
    });
  });
});

/** Resolves with whether the agent closed `socket` within `ms`. */
function closedWithin(socket: ReturnType<typeof connect>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('silent connections (HTTP_FIRST_REQUEST_TIMEOUT_SECONDS)', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent(offlineConfig({ http: { rateLimitPerSecond: 0, rateLimitBurst: 1, refusalsPerSecond: 0, refusalBurst: 1, firstRequestTimeoutSeconds: 1, maxConnections: 0, trustProxy: false } }));
  });
  after(async () => {
    await agent.close();
  });

  it('closes connections that never send a byte, which otherwise held a descriptor each for good', async () => {
    const sockets = Array.from({ length: 20 }, () => connect(agent.port, '127.0.0.1').on('error', () => undefined));
    try {
      const closed = await Promise.all(sockets.map((socket) => closedWithin(socket, 10_000)));
      assert.deepEqual(closed, sockets.map(() => true));
    } finally {
      // Without the timeout they stay open, and the agent's close would wait for them.
      for (const socket of sockets) socket.destroy();
    }
    const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('keeps a connection open past the timeout once it has made a request (keep-alive), and serves its next one', async () => {
    const socket = connect(agent.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const request = `GET /api/public/sdk/server/latest-all HTTP/1.1\r\nHost: x\r\nAuthorization: ${SERVER_SECRET}\r\n\r\n`;
    socket.write(request);
    // Silent for twice the timeout after the answer: the keep-alive timeout (72 s) applies, not this one.
    assert.equal(await closedWithin(socket, 2500), false);
    assert.match(received, /^HTTP\/1\.1 200 /);
    received = '';
    socket.write(request);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.match(received, /^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  it('leaves WebSockets alone: an SDK socket idle past the timeout stays open', async () => {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
    await sdk.opened;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(sdk.socket.readyState, sdk.socket.OPEN);
    sdk.send({ messageType: 'ping', data: {} });
    assert.equal((await sdk.next()).messageType, 'pong');
    sdk.close();
  });
});

describe('open connections (HTTP_MAX_CONNECTIONS)', () => {
  const MAX = 12;
  let agent: RunningAgent;
  before(async () => {
    // Silent connections are not closed by the first-request timeout within the test.
    agent = await startAgent(offlineConfig({ http: { rateLimitPerSecond: 0, rateLimitBurst: 1, refusalsPerSecond: 0, refusalBurst: 1, firstRequestTimeoutSeconds: 60, maxConnections: MAX, trustProxy: false } }));
  });
  after(async () => {
    await agent.close();
  });

  /** A keep-alive connection that has made one request; `ask` sends another and resolves with the answer's status line. */
  async function keepAlive(): Promise<{ socket: ReturnType<typeof connect>; ask: (path: string) => Promise<string> }> {
    const socket = connect(agent.port, '127.0.0.1').on('error', () => undefined);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const ask = async (path: string): Promise<string> => {
      received = '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${SERVER_SECRET}\r\n\r\n`);
      for (let i = 0; i < 100 && !received.includes('\r\n'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      return received.split('\r\n', 1)[0] ?? '';
    };
    assert.equal(await ask('/api/public/sdk/server/latest-all'), 'HTTP/1.1 200 OK');
    return { socket, ask };
  }

  it('closes new connections at once past the bound (WebSockets count), keeps serving the open ones, and accepts again when some close', async () => {
    const sdk = SdkSocket.forSecret(agent.wsUrl, 'server', SERVER_SECRET);
    await sdk.opened;
    const kept = [];
    for (let i = 0; i < 5; i++) kept.push(await keepAlive());
    const silent = Array.from({ length: MAX - 6 }, () => connect(agent.port, '127.0.0.1').on('error', () => undefined));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const extra = Array.from({ length: 8 }, () => connect(agent.port, '127.0.0.1').on('error', () => undefined));
    try {
      // Without the bound they stay open (and would for the first-request timeout, 60 s here).
      assert.deepEqual(await Promise.all(extra.map((socket) => closedWithin(socket, 5000))), extra.map(() => true));
      assert.deepEqual(await Promise.all(silent.map((socket) => closedWithin(socket, 100))), silent.map(() => false));
      assert.ok(agent.app.get(SdkHttpGate).connectionsDropped >= 8, `dropped ${agent.app.get(SdkHttpGate).connectionsDropped}`);
      // The open connections are served: the SDK socket and the keep-alive connections.
      sdk.send({ messageType: 'ping', data: {} });
      assert.equal((await sdk.next()).messageType, 'pong');
      assert.equal(await kept[0]!.ask('/api/public/sdk/server/latest-all'), 'HTTP/1.1 200 OK');
      assert.match(await kept[1]!.ask('/metrics'), /^HTTP\/1\.1 200 /);
      // Room again once some close.
      for (const socket of silent.slice(0, 3)) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET, connection: 'close' } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    } finally {
      sdk.close();
      for (const socket of [...silent, ...extra, ...kept.map((k) => k.socket)]) socket.destroy();
    }
  });
});
