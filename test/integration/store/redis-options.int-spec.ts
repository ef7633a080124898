import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load-config.js';
import { ConfigError } from '../../../src/config/config.errors.js';
import { describeTopology, hashTagged } from '../../../src/store/redis/redis-connection.js';
import { SAMPLE_DATA_FILE } from '../../support/sample-data.js';

const base = { MODE: 'offline', DATA_FILE: SAMPLE_DATA_FILE, STORE: 'redis' };

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return '';
}

describe('Redis connection settings', () => {
  it('maps TLS files, credentials and timings into the store options', () => {
    const config = loadConfig({
      ...base,
      REDIS_URL: 'rediss://cache.example.com:6380',
      REDIS_USERNAME: 'agent',
      REDIS_PASSWORD: 'pw',
      REDIS_TLS_CA_FILE: SAMPLE_DATA_FILE,
      REDIS_TLS_SERVERNAME: 'cache.example.com',
      REDIS_COMMAND_TIMEOUT_MS: '750',
      RECONCILE_INTERVAL_SECONDS: '5',
    });
    assert.equal(config.store.type, 'redis');
    if (config.store.type !== 'redis') return;
    assert.equal(config.store.username, 'agent');
    assert.equal(config.store.password, 'pw');
    assert.deepEqual(config.store.tls, { caFile: SAMPLE_DATA_FILE, certFile: undefined, keyFile: undefined, servername: 'cache.example.com' });
    assert.equal(config.store.commandTimeoutMs, 750);
    assert.equal(config.store.reconcileIntervalMs, 5000);
    assert.equal(describeTopology(config.store), 'rediss://cache.example.com:6380 over TLS');
  });

  it('accepts Sentinel or Cluster instead of REDIS_URL', () => {
    const sentinel = loadConfig({ ...base, REDIS_SENTINELS: 's1:26379, s2:26379', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_SENTINEL_PASSWORD: 'x' });
    assert.ok(sentinel.store.type === 'redis');
    if (sentinel.store.type !== 'redis') return;
    assert.deepEqual(sentinel.store.sentinels, [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ]);
    assert.equal(describeTopology(sentinel.store), 'sentinel master mymaster via s1:26379,s2:26379');
    const cluster = loadConfig({ ...base, REDIS_CLUSTER_NODES: 'n1:6379,n2:6379' });
    if (cluster.store.type !== 'redis') return assert.fail('not redis');
    assert.deepEqual(cluster.store.clusterNodes, [
      { host: 'n1', port: 6379 },
      { host: 'n2', port: 6379 },
    ]);
  });

  it('rejects incomplete or contradictory settings with one clear message each', () => {
    assert.match(problems(base), /REDIS_URL is required/);
    assert.match(problems({ ...base, REDIS_SENTINELS: 's1:26379' }), /REDIS_SENTINEL_MASTER is required/);
    assert.match(problems({ ...base, REDIS_SENTINELS: 's1' , REDIS_SENTINEL_MASTER: 'm' }), /REDIS_SENTINELS must be host:port/);
    assert.match(problems({ ...base, REDIS_SENTINELS: 's1:1', REDIS_SENTINEL_MASTER: 'm', REDIS_CLUSTER_NODES: 'n:1' }), /exclude each other/);
    assert.match(problems({ ...base, REDIS_URL: 'redis://x', REDIS_TLS_CERT_FILE: SAMPLE_DATA_FILE }), /go together/);
    assert.match(problems({ ...base, REDIS_URL: 'redis://x', REDIS_TLS_CA_FILE: '/nonexistent/ca.crt' }), /REDIS_TLS_CA_FILE: cannot read/);
    assert.match(problems({ ...base, REDIS_URL: 'redis://x', REDIS_COMMAND_TIMEOUT_MS: '0' }), /REDIS_COMMAND_TIMEOUT_MS must be at least/);
  });

  it('gives every key of one prefix the same Cluster hash tag, keeping a tag already there', () => {
    assert.equal(hashTagged('featbit-agent:'), '{featbit-agent:}');
    assert.equal(hashTagged('{agents}:prod:'), '{agents}:prod:');
    assert.equal(hashTagged('odd{}:'), '{odd{}:}');
  });
});
