import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { offlineConfig, startAgent, type RunningAgent } from '../support/agent-app.js';
import { CLIENT_SECRET, ENV_ID, RELAY_PROXY_KEY, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

const ADMIN = { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' };

/** The sample bootstrap with `levels` more levels of objects under the first flag (or segment): the item itself is level 1. */
function nested(levels: number, field: 'featureFlags' | 'segments' = 'featureFlags'): string {
  const body = sampleBootstrap();
  const item = body.items[0]![field][0]!;
  item['updatedAt'] = new Date().toISOString();
  item['extra'] = 'DEEP';
  return JSON.stringify(body).replace('"DEEP"', `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);
}

describe('HTTP API', () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent();
  });
  after(async () => {
    await agent.close();
  });
  const url = (path: string): string => `${agent.httpUrl}${path}`;

  describe('admin', () => {
    for (const base of ['/api/public/proxy', '/api/proxy']) {
      it(`guards every admin route under ${base}`, async () => {
        for (const [method, path] of [['GET', 'status'], ['POST', 'bootstrap'], ['GET', 'backup']] as const) {
          for (const authorization of [undefined, 'wrong', `Bearer ${RELAY_PROXY_KEY}`]) {
            const response = await fetch(url(`${base}/${path}`), {
              method,
              headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
              ...(method === 'POST' ? { body: JSON.stringify(sampleBootstrap()) } : {}),
            });
            assert.equal(response.status, 401, `${method} ${path} with ${authorization ?? 'no key'}`);
            assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
          }
        }
      });
    }

    it('reports status for both FeatBit UI generations', async () => {
      const response = await fetch(url('/api/public/proxy/status'), { headers: ADMIN });
      assert.equal(response.status, 200);
      const body = (await response.json()) as Record<string, unknown>;
      assert.equal(body['serves'], 'shop:prod');
      assert.equal(body['syncState'], 'None');
      assert.equal(body['lastSyncedAt'], null);
      assert.equal(body['type'], 'healthy');
      assert.equal(typeof body['lastSyncAt'], 'string');
      assert.equal(typeof body['dataVersion'], 'number');
      assert.ok(Number.isInteger(body['dataVersion']));
      assert.ok(!Number.isNaN(Date.parse(String(body['reportedAt']))));
    });

    it('stores a bootstrap and answers serves and dataVersion; backup returns it', async () => {
      const body = sampleBootstrap();
      const response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { serves: 'shop:prod', dataVersion: Date.parse('2026-01-04T12:10:00.000Z') });
      const backup = await fetch(url('/api/public/proxy/backup'), { headers: ADMIN });
      assert.deepEqual(await backup.json(), body);
    });

    it('accepts rp-full and the legacy v1 array, which has no secrets', async () => {
      const body = { ...sampleBootstrap(), eventType: 'rp-full' };
      let response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      const legacyEnv = '11111111-2222-4333-8444-555555555555';
      const legacy = [{ envId: legacyEnv, flags: [{ ...body.items[0]?.featureFlags[0], envId: legacyEnv }], segments: [] }];
      response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: ADMIN, body: JSON.stringify(legacy) });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { serves: string }).serves, '');
      const backup = (await (await fetch(url('/api/public/proxy/backup'), { headers: ADMIN })).json()) as { items: { envId: string }[] };
      assert.deepEqual(backup.items.map((i) => i.envId), [legacyEnv]);
      // restore
      response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: ADMIN, body: JSON.stringify(sampleBootstrap()) });
      assert.equal(response.status, 200);
    });

    const invalid: [string, string, RegExp][] = [
      ['not JSON', '{"eventType":', /./],
      ['no eventType', JSON.stringify({ items: [] }), /eventType/],
      ['items not an array', JSON.stringify({ eventType: 'rp_full', items: {} }), /items/],
      ['an env without envId', JSON.stringify({ eventType: 'rp_full', items: [{ featureFlags: [], segments: [] }] }), /envId/],
      ['a flag without updatedAt', JSON.stringify({ eventType: 'rp_full', items: [{ envId: ENV_ID, featureFlags: [{ id: 'x', envId: ENV_ID, key: 'k' }], segments: [] }] }), /updatedAt/],
      ['a bad date', JSON.stringify({ eventType: 'rp_full', items: [{ envId: ENV_ID, featureFlags: [{ id: 'x', envId: ENV_ID, key: 'k', updatedAt: 'yesterday' }], segments: [] }] }), /updatedAt/],
      ['a number', '42', /body/],
      // Valid but for an extra property nested 100,000 levels deep: it was stored (200), and then every
      // server payload, backup and store write of the environment failed (JSON.stringify overflowed).
      ['a flag nested too deeply', nested(100_000), /featureFlags\[0\] nests objects or arrays deeper than 64 levels/],
      ['a segment nested 65 levels deep', nested(64, 'segments'), /segments\[0\] nests objects or arrays deeper than 64 levels/],
    ];
    for (const [name, body, detail] of invalid) {
      it(`rejects a bootstrap with ${name} with 400 and keeps serving the old data`, async () => {
        const before = await (await fetch(url('/api/public/proxy/backup'), { headers: ADMIN })).text();
        const response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: ADMIN, body });
        assert.equal(response.status, 400);
        assert.match(await response.text(), detail);
        const after = await (await fetch(url('/api/public/proxy/backup'), { headers: ADMIN })).text();
        assert.equal(after, before);
      });
    }

    it('checks the key before the body (unlike the C# agent, which answers 400 first)', async () => {
      const response = await fetch(url('/api/public/proxy/bootstrap'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      assert.equal(response.status, 401);
    });
  });

  describe('server SDK polling', () => {
    it('serves the full payload to a held secret, case-insensitively routed', async () => {
      for (const path of ['/api/public/sdk/server/latest-all', '/API/Public/SDK/Server/Latest-All?timestamp=0']) {
        const response = await fetch(url(path), { headers: { authorization: SERVER_SECRET } });
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /application\/json/);
        const body = (await response.json()) as { messageType: string; data: { eventType: string; featureFlags: unknown[]; segments: unknown[] } };
        assert.equal(body.messageType, 'data-sync');
        assert.equal(body.data.eventType, 'full');
        assert.equal(body.data.featureFlags.length, 6);
        assert.equal(body.data.segments.length, 1);
      }
    });

    it('answers an up-to-date poll with 200 and an empty body', async () => {
      const response = await fetch(url(`/api/public/sdk/server/latest-all?timestamp=${agent.store.data.dataVersion}`), {
        headers: { authorization: SERVER_SECRET },
      });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), '');
    });

    it('rejects unknown or malformed secrets with 401 and a bad timestamp with 400', async () => {
      for (const authorization of [undefined, 'short', 'AAAAAAAAAAAAAAAAAAAAAAkSo8D31rWE6hxJPS6Pe2BQ']) {
        const response = await fetch(url('/api/public/sdk/server/latest-all'), { headers: authorization ? { authorization } : {} });
        assert.equal(response.status, 401);
      }
      const response = await fetch(url('/api/public/sdk/server/latest-all?timestamp=abc'), { headers: { authorization: SERVER_SECRET } });
      assert.equal(response.status, 400);
    });

    // The route is a fastify route, not a Nest controller (the busiest route skips Nest's pipeline):
    // its answers must still look like every other route's.
    it('answers errors with problem documents and every answer with CORS, like the controllers', async () => {
      const cases: [Record<string, string>, string, number, string, RegExp][] = [
        [{}, '', 401, 'Unauthorized', /missing or malformed/],
        [{ authorization: 'AAAAAAAAAAAAAAAAAAAAAAkSo8D31rWE6hxJPS6Pe2BQ' }, '', 401, 'Unauthorized', /unknown environment secret/],
        [{ authorization: CLIENT_SECRET }, '', 403, 'Forbidden', /server secret/],
        [{ authorization: SERVER_SECRET }, '?timestamp=abc', 400, 'Bad Request', /timestamp must be an integer/],
      ];
      // A controller's 401, for the content type (fastify adds the charset).
      const controller = await fetch(url('/api/public/sdk/client/latest-all'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(controller.status, 401);
      const problemType = controller.headers.get('content-type');
      assert.match(problemType ?? '', /^application\/problem\+json/);
      for (const [headers, query, status, title, detail] of cases) {
        const response = await fetch(url(`/api/public/sdk/server/latest-all${query}`), { headers: { origin: 'https://app.example.com', ...headers } });
        assert.equal(response.status, status);
        assert.equal(response.headers.get('content-type'), problemType);
        assert.equal(response.headers.get('access-control-allow-origin'), '*');
        const problem = (await response.json()) as Record<string, unknown>;
        assert.deepEqual(Object.keys(problem).sort(), ['detail', 'status', 'title', 'type']);
        assert.equal(problem['type'], 'about:blank');
        assert.equal(problem['status'], status);
        assert.equal(problem['title'], title);
        assert.match(String(problem['detail']), detail);
      }
      const ok = await fetch(url('/api/public/sdk/server/latest-all/'), { headers: { authorization: SERVER_SECRET } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), '*');
      assert.equal(ok.headers.get('content-type'), 'application/json; charset=utf-8');
      const head = await fetch(url('/api/public/sdk/server/latest-all'), { method: 'HEAD', headers: { authorization: SERVER_SECRET } });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(await ok.text())));
      const post = await fetch(url('/api/public/sdk/server/latest-all'), { method: 'POST', headers: { authorization: SERVER_SECRET } });
      assert.equal(post.status, 404);
      assert.equal(post.headers.get('content-type'), problemType);
    });

    it('answers CORS preflights without credentials', async () => {
      const response = await fetch(url('/api/public/sdk/server/latest-all'), {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,x-user-agent' },
      });
      assert.ok(response.status === 204 || response.status === 200);
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
      assert.match(response.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    });
  });

  describe('insights', () => {
    it('accepts an array of insights with a structurally valid secret', async () => {
      const ok = await fetch(url('/api/public/insight/track'), {
        method: 'POST',
        headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
        body: JSON.stringify([{ user: { keyId: 'u-1' }, variations: [] }]),
      });
      assert.equal(ok.status, 200);
      const noKey = await fetch(url('/api/public/insight/track'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
      assert.equal(noKey.status, 401);
      const notArray = await fetch(url('/api/public/insight/track'), {
        method: 'POST',
        headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
        body: '{"user":{}}',
      });
      assert.equal(notArray.status, 400);
    });
  });

  describe('health', () => {
    it('is live and ready with data, for any method, never cached', async () => {
      for (const method of ['GET', 'HEAD', 'POST']) {
        const live = await fetch(url('/health/liveness'), { method });
        assert.equal(live.status, 200);
        const ready = await fetch(url('/health/readiness'), { method });
        assert.equal(ready.status, 200);
        assert.match(ready.headers.get('cache-control') ?? '', /no-store/);
        if (method !== 'HEAD') assert.equal(await ready.text(), 'Healthy');
      }
    });

    it('is not ready before the first data arrives', async () => {
      const empty = await startAgent(offlineConfig({ dataFile: undefined }));
      try {
        const ready = await fetch(`${empty.httpUrl}/health/readiness`);
        assert.equal(ready.status, 503);
        assert.equal(await ready.text(), 'Unhealthy');
        assert.equal((await fetch(`${empty.httpUrl}/health/liveness`)).status, 200);
        const response = await fetch(`${empty.httpUrl}/api/public/proxy/bootstrap`, { method: 'POST', headers: ADMIN, body: JSON.stringify(sampleBootstrap()) });
        assert.equal(response.status, 200);
        assert.equal((await fetch(`${empty.httpUrl}/health/readiness`)).status, 200);
      } finally {
        await empty.close();
      }
    });
  });
});
