import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import type { HttpOptions } from '../../src/config/agent-config.js';
import { CLIENT_SECRET, RELAY_PROXY_KEY, SERVER_SECRET } from '../support/sample-data.js';

/**
 * A burst of 300 tokens refilled at one every 1,000 s (the settings take whole numbers; the
 * buckets any rate): nothing refills during a test, so no assertion depends on timing. A client
 * latest-all (an evaluation for its user) costs 10 tokens: the burst is 30 of them.
 */
const TOKENS = 300;
const BURST = 30;
const RATE = 0.001;
const USER = JSON.stringify({ keyId: 'u-1', name: 'Ann', customizedProperties: [] });
/** Well-formed, not held: 22 characters and the compact env id of the sample client secret. */
const FORGED = `${'Z'.repeat(22)}${CLIENT_SECRET.slice(22)}`;

function limited(http: Partial<HttpOptions> = {}) {
  return offlineConfig({ http: { rateLimitPerSecond: RATE, rateLimitBurst: TOKENS, refusalsPerSecond: 0, refusalBurst: 1, firstRequestTimeoutSeconds: 10, maxConnections: 0, trustProxy: false, ...http } });
}

function clientPoll(agent: RunningAgent, secret: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${agent.httpUrl}/api/public/sdk/client/latest-all`, {
    method: 'POST',
    headers: { authorization: secret, 'content-type': 'application/json', ...headers },
    body: USER,
  });
}

/** Sends `count` polls one after the other; resolves to their statuses. */
async function polls(agent: RunningAgent, count: number, secret: string | (() => string), headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await clientPoll(agent, typeof secret === 'string' ? secret : secret(), headers);
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}

describe('HTTP rate limit and early refusals (issue 11)', () => {
  describe('past the burst', () => {
    let agent: RunningAgent;
    before(async () => {
      agent = await startAgent(limited());
    });
    after(() => agent.close());

    it('answers 429 with Retry-After and CORS, and leaves other secrets and the operator routes served', async () => {
      assert.deepEqual(await polls(agent, BURST, CLIENT_SECRET), Array<number>(BURST).fill(200));
      const refused = await clientPoll(agent, CLIENT_SECRET, { origin: 'https://app.example.com' });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('access-control-allow-origin'), '*');
      assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= Math.ceil(10 / RATE), `Retry-After ${refused.headers.get('retry-after')}`);
      const problem = (await refused.json()) as { status: number; title: string };
      assert.equal(problem.status, 429);
      assert.equal(problem.title, 'Too Many Requests');

      // The budget is the client's (address + secret) across the SDK routes: OFREP too.
      const ofrep = await fetch(`${agent.httpUrl}/ofrep/v1/evaluate/flags`, {
        method: 'POST',
        headers: { authorization: CLIENT_SECRET, 'content-type': 'application/json' },
        body: JSON.stringify({ context: { targetingKey: 'u-1' } }),
      });
      assert.equal(ofrep.status, 429);
      // A server SDK behind the same address presents another secret: served.
      const server = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
      assert.equal(server.status, 200);
      // Probes, scrapers and the admin API are not limited.
      for (const path of ['/health/liveness', '/health/readiness', '/api/public/proxy/status']) {
        const response = await fetch(`${agent.httpUrl}${path}`, { headers: { authorization: RELAY_PROXY_KEY } });
        assert.equal(response.status, 200, path);
      }
      const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
      assert.match(metrics, /^featbit_agent_http_rate_limited_total 2$/m);
    });

    it('keeps unknown secrets of one address in one bucket, refused with 401 before the body is read', async () => {
      let n = 0;
      const forged = () => `${String(n++).padStart(22, 'Y')}${CLIENT_SECRET.slice(22)}`;
      assert.deepEqual(await polls(agent, BURST, forged), Array<number>(BURST).fill(401));
      assert.deepEqual(await polls(agent, 3, forged), [429, 429, 429]);
      // The held server secret of that address keeps its own budget.
      const server = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET } });
      assert.equal(server.status, 200);
    });
  });

  describe('TRUST_PROXY', () => {
    it('keys on X-Forwarded-For from a trusted proxy: one client limited, the next served', async () => {
      const agent = await startAgent(limited({ trustProxy: ['127.0.0.1'] }));
      try {
        assert.deepEqual(await polls(agent, BURST, CLIENT_SECRET, { 'x-forwarded-for': '203.0.113.1' }), Array<number>(BURST).fill(200));
        assert.deepEqual(await polls(agent, 1, CLIENT_SECRET, { 'x-forwarded-for': '203.0.113.1' }), [429]);
        assert.deepEqual(await polls(agent, 1, CLIENT_SECRET, { 'x-forwarded-for': '203.0.113.2' }), [200]);
        // Through a chain of proxies, the client is the first untrusted address from the right.
        assert.deepEqual(await polls(agent, 1, CLIENT_SECRET, { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' }), [429]);
      } finally {
        await agent.close();
      }
    });

    it('ignores X-Forwarded-For when no proxy is trusted (the default): a client cannot pick its bucket', async () => {
      const agent = await startAgent(limited());
      try {
        assert.deepEqual(await polls(agent, BURST, CLIENT_SECRET, { 'x-forwarded-for': '203.0.113.1' }), Array<number>(BURST).fill(200));
        assert.deepEqual(await polls(agent, 1, CLIENT_SECRET, { 'x-forwarded-for': '203.0.113.2' }), [429]);
      } finally {
        await agent.close();
      }
    });
  });

  describe('early refusals', () => {
    let agent: RunningAgent;
    before(async () => {
      agent = await startAgent();
    });
    after(() => agent.close());

    it('answers an unknown secret with 401 before its body arrives, and closes rather than read a large one', async () => {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(agent.port, '127.0.0.1');
        let received = '';
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error('no answer before the body was sent'));
        }, 10_000);
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (!received.includes('\r\n\r\n')) return;
          clearTimeout(timer);
          socket.destroy();
          resolve(received);
        });
        // Headers only: the 512 KiB body never comes.
        socket.write(`POST /api/public/sdk/client/latest-all HTTP/1.1\r\nhost: x\r\nauthorization: ${FORGED}\r\ncontent-type: application/json\r\ncontent-length: ${512 * 1024}\r\n\r\n`);
      });
      assert.match(answer, /^HTTP\/1\.1 401/);
      assert.match(answer, /connection: close/i);
      assert.match(answer, /access-control-allow-origin: \*/i);
      assert.match(answer, /"detail":"unknown environment secret"/);
    });

    it('refuses a forged secret on the insight intake on the gate, before Nest, and counts it as an insight refusal', async () => {
      const track = (secret: string) =>
        fetch(`${agent.httpUrl}/api/public/insight/track`, {
          method: 'POST',
          headers: { authorization: secret, 'content-type': 'application/json', origin: 'https://app.example.com' },
          body: JSON.stringify([{ user: { keyId: 'u-1', name: 'Ann', customizedProperties: [] }, variations: [], metrics: [] }]),
        });
      const forged = await track(FORGED);
      assert.equal(forged.status, 401);
      assert.equal(forged.headers.get('access-control-allow-origin'), '*');
      assert.match(forged.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(((await forged.json()) as { detail: string }).detail, 'unknown environment secret');
      assert.equal((await track('not-a-secret')).status, 401);
      assert.equal((await track(CLIENT_SECRET)).status, 200, 'a held secret is taken');
      const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
      assert.match(metrics, /^featbit_agent_insights_refused_total\{reason="unknown_secret"\} 2$/m);
    });

    it('counts the refusals by reason', async () => {
      const forbidden = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: CLIENT_SECRET } });
      assert.equal(forbidden.status, 403);
      const ofrep = await fetch(`${agent.httpUrl}/ofrep/v1/evaluate/flags`, {
        method: 'POST',
        headers: { authorization: `Bearer ${FORGED}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(ofrep.status, 401);
      const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
      assert.match(metrics, /^featbit_agent_http_refused_total\{reason="client_secret_on_server"\} 1$/m);
      assert.match(metrics, /^featbit_agent_http_refused_total\{reason="unknown_secret"\} [2-9]$/m);
      assert.match(metrics, /^featbit_agent_http_rate_limited_total 0$/m);
    });
  });

  describe('refusal budget (the tarpit)', () => {
    it('answers refusals at once within the budget, holds the rest, and keeps a held keep-alive connection serving', async () => {
      // Two refusals at once per address, then one a second: the third and fourth in a row are held.
      const agent = await startAgent(offlineConfig({ http: { rateLimitPerSecond: 0, rateLimitBurst: 1, refusalsPerSecond: 1, refusalBurst: 2, firstRequestTimeoutSeconds: 10, maxConnections: 0, trustProxy: false } }));
      try {
        const statuses = await polls(agent, 4, FORGED);
        assert.deepEqual(statuses, [401, 401, 401, 401], 'held refusals are still answered');
        const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
        const held = Number(/^featbit_agent_refusals_held_total (\d+)$/m.exec(metrics)?.[1]);
        assert.ok(held >= 1 && held <= 2, `${held} refusals held`);
        // fetch keeps its connection: the one a held refusal paused reads on afterwards.
        assert.deepEqual(await polls(agent, 2, CLIENT_SECRET), [200, 200]);
      } finally {
        await agent.close();
      }
    });

    it('holds refused upgrades of an address past its budget, and answers them', async () => {
      const agent = await startAgent(
        offlineConfig({
          streaming: { ...offlineConfig().streaming, maxConnections: 0 },
          http: { rateLimitPerSecond: 0, rateLimitBurst: 1, refusalsPerSecond: 1, refusalBurst: 1, firstRequestTimeoutSeconds: 10, maxConnections: 0, trustProxy: false },
        }),
      );
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) {
          statuses.push(
            await new Promise<number>((resolve) => {
              const socket = connect(agent.port, '127.0.0.1');
              let received = '';
              socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
              socket.on('error', () => undefined);
              socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0)));
              socket.write(`GET /streaming?type=server&token=x HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
            }),
          );
        }
        assert.deepEqual(statuses, [503, 503, 503]);
        const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
        const held = Number(/^featbit_agent_refusals_held_total (\d+)$/m.exec(metrics)?.[1]);
        assert.ok(held >= 1 && held <= 2, `${held} upgrades held`);
      } finally {
        await agent.close();
      }
    });
  });
});
