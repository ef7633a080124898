import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcess } from '../support/agent-process.js';
import { OwnRedis, freePort } from '../support/redis.js';
import { SAMPLE_DATA_FILE, SERVER_SECRET } from '../support/sample-data.js';

/** At the default level an operator must see why a connection failed: DNS, refused, TLS, auth. */
describe('failures are logged with their cause', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('insight forwarding names the refused connection behind "fetch failed"', async () => {
    const closed = await freePort();
    const agent = await AgentProcess.start({ MODE: 'offline', DATA_FILE: SAMPLE_DATA_FILE, EVENT_URI: `http://127.0.0.1:${closed}`, LOG_LEVEL: 'info' });
    cleanups.push(() => agent.kill());
    const response = await fetch(`${agent.httpUrl}/api/public/insight/track`, {
      method: 'POST',
      headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify([{ user: { keyId: 'u-1', name: 'u' } }]),
    });
    assert.equal(response.status, 200);
    await agent.until(() => Promise.resolve(/insight forwarding failed[\s\S]*ECONNREFUSED/.test(agent.logs)), 15_000);
  });

  it('a lost Redis connection names its cause', async () => {
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const agent = await AgentProcess.start({ MODE: 'offline', DATA_FILE: SAMPLE_DATA_FILE, STORE: 'redis', REDIS_URL: redis.url, LOG_LEVEL: 'info' });
    cleanups.push(() => agent.kill());
    await redis.stop();
    await agent.until(() => Promise.resolve(/redis connection lost[\s\S]*(ECONNREFUSED|ECONNRESET)/.test(agent.logs)), 15_000);
  });
});
