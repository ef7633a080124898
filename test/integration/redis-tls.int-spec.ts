import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { RedisFlagStore } from '../../src/store/redis/redis-flag-store.js';
import type { RedisStoreOptions } from '../../src/store/flag-store.js';
import { describeFlagStoreContract } from './store/flag-store.contract.js';
import { OwnRedis, freePort, freshPrefix } from '../support/redis.js';
import { makeCertificates, type TestCertificates } from '../support/tls-certs.js';
import { AgentProcess } from '../support/agent-process.js';
import { postBootstrap } from '../support/agent-app.js';
import { sampleBootstrap } from '../support/sample-data.js';
import { readFileSync } from 'node:fs';
import { describeRedisInsightQueueContract, storeClient } from './insight-queues.contract.js';

const USER = 'featbit-agent';
const PASSWORD = 'tls-acl-Secret-4711';

/**
 * A redis-server with TLS only (no plain port), client certificates required, the default user
 * off and one ACL user with a password: what managed Redis offerings look like.
 */
let certs: TestCertificates;
let redis: OwnRedis;

async function startTlsRedis(): Promise<void> {
  certs = makeCertificates();
  const port = await freePort();
  redis = await OwnRedis.start(port, {
    args: [
      '--port', '0',
      '--tls-port', String(port),
      '--tls-cert-file', certs.serverCert,
      '--tls-key-file', certs.serverKey,
      '--tls-ca-cert-file', certs.caCert,
      '--tls-auth-clients', 'yes',
      '--user', 'default', 'off',
      '--user', USER, 'on', `>${PASSWORD}`, '~*', '&*', '+@all',
    ],
    client: {
      username: USER,
      password: PASSWORD,
      tls: { ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey), servername: certs.serverName },
    },
  });
}

function storeOptions(overrides: Partial<RedisStoreOptions> = {}): RedisStoreOptions {
  return {
    url: `rediss://127.0.0.1:${redis.port}`,
    keyPrefix: freshPrefix(),
    podId: 'tls-pod',
    leaseMs: 1000,
    commandTimeoutMs: 1000,
    username: USER,
    password: PASSWORD,
    tls: { caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, servername: certs.serverName },
    ...overrides,
  };
}

describe('Redis over TLS with an ACL user', () => {
  before(startTlsRedis);
  after(async () => {
    await redis.stop();
    rmSync(certs.dir, { recursive: true, force: true });
  });

  describeFlagStoreContract('RedisFlagStore (rediss://, mutual TLS, ACL user)', async () => {
    const store = await RedisFlagStore.connect(storeOptions());
    await store.ping();
    return { store, cleanup: () => Promise.resolve() };
  });

  describeRedisInsightQueueContract('rediss://, mutual TLS, ACL user', () => storeClient(storeOptions()));

  it('refuses a wrong password, a missing client certificate and a wrong server name, without hanging', async () => {
    for (const overrides of [
      { password: 'wrong' },
      { tls: { caFile: certs.caCert, servername: certs.serverName } },
      { tls: { caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, servername: 'other.test' } },
      { url: `redis://127.0.0.1:${redis.port}`, tls: undefined },
    ] satisfies Partial<RedisStoreOptions>[]) {
      const store = await RedisFlagStore.connect(storeOptions(overrides));
      try {
        await assert.rejects(store.ping(), /Redis is not/);
      } finally {
        await store.close();
      }
    }
  });

  it('runs an agent process configured by REDIS_TLS_*, REDIS_USERNAME and REDIS_PASSWORD, and never logs the password', async () => {
    const prefix = freshPrefix();
    const agent = await AgentProcess.start({
      MODE: 'offline',
      STORE: 'redis',
      REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
      REDIS_KEY_PREFIX: prefix,
      REDIS_USERNAME: USER,
      REDIS_PASSWORD: PASSWORD,
      REDIS_TLS_CA_FILE: certs.caCert,
      REDIS_TLS_CERT_FILE: certs.clientCert,
      REDIS_TLS_KEY_FILE: certs.clientKey,
      REDIS_TLS_SERVERNAME: certs.serverName,
      LOG_LEVEL: 'debug',
    });
    const check = redis.connect();
    try {
      assert.equal((await postBootstrap(agent.httpUrl, sampleBootstrap())).status, 200);
      await agent.until(async () => (await check.get(`${prefix}current`)) !== null);
      assert.equal((await agent.readiness())[1], 'Healthy');
      assert.equal(((await agent.status())['store'] as { state: string }).state, 'ok');
      assert.ok(!agent.logs.includes(PASSWORD), 'the password appears in the logs');
      assert.match(agent.logs, /rediss:\/\/127\.0\.0\.1:\d+ over TLS/);
    } finally {
      check.disconnect();
      await agent.kill();
    }
  });
});
