import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { OwnRedis, freePort } from '../support/redis.js';
import { OwnRedisCluster, OwnRedisSentinels } from '../support/redis-topologies.js';
import { makeCertificates, type TestCertificates } from '../support/tls-certs.js';
import type { K8sObject } from './helm.js';
import { example, renderChart } from './helm.js';
import type { Cluster } from './pod.js';
import { PodFixture, drains, sampleKeys, serverFlags } from './pod-fixture.js';

/**
 * Pod-run, production Redis: the chart's TLS + ACL, Cluster and Sentinel examples rendered and
 * started as pods against real redis-server processes this file starts, the examples' host names
 * mapped to them as cluster DNS would. Every pod must become Ready within the probes' budget and
 * serve FeatBit's flags through the shared store.
 */
const fx = new PodFixture({ featbit: true });
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The example's values as a ConfigMap or Secret holds them. */
function dataOf(objects: K8sObject[], kind: 'ConfigMap' | 'Secret'): Record<string, string> {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === 'flags-featbit-agent');
  return ((object?.[kind === 'Secret' ? 'stringData' : 'data'] ?? {}) as Record<string, string>);
}

function withHosts(objects: K8sObject[], hosts: Record<string, string>): Cluster {
  const cluster = fx.cluster(objects);
  return { ...cluster, hosts: { ...cluster.hosts, ...hosts } };
}

async function allReadyWithFlags(cluster: Cluster): Promise<void> {
  const pods = await fx.startPods(cluster);
  assert.equal(pods.length, 2);
  for (const pod of pods) await pod.waitStarted();
  for (const pod of pods) {
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  for (const pod of pods) await drains(pod);
}

it('(f) TLS with a private CA, mutual TLS and an ACL user: the certificate files from an existing Secret', async () => {
  const USER = 'featbit-agent';
  const PASSWORD = 'change-me-acl-password';
  const certs: TestCertificates = makeCertificates();
  cleanups.push(() => rmSync(certs.dir, { recursive: true, force: true }));
  const port = await freePort();
  // TLS only, client certificates required, the default user off: what managed Redis looks like.
  const redis = await OwnRedis.start(port, {
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
  cleanups.push(() => redis.stop());
  // The test's certificate names redis.test; the example's servername is the in-cluster name.
  const objects = renderChart([...example('redis-tls-acl'), '--set', `store.redis.tls.servername=${certs.serverName}`]);
  const config = dataOf(objects, 'ConfigMap');
  assert.equal(config['REDIS_USERNAME'], USER);
  assert.ok(!JSON.stringify(config).includes(PASSWORD), 'the password is not in the ConfigMap');
  assert.equal(dataOf(objects, 'Secret')['REDIS_PASSWORD'], PASSWORD);
  // kubectl create secret generic redis-tls --from-file=ca.crt --from-file=tls.crt --from-file=tls.key
  const tlsSecret: K8sObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'redis-tls' },
    data: {
      'ca.crt': readFileSync(certs.caCert).toString('base64'),
      'tls.crt': readFileSync(certs.clientCert).toString('base64'),
      'tls.key': readFileSync(certs.clientKey).toString('base64'),
    },
  };
  await allReadyWithFlags(withHosts([...objects, tlsSecret], { 'redis-master:6380': `127.0.0.1:${port}` }));
  const client = redis.connect();
  try {
    assert.ok((await client.keys('featbit-agent:*')).length > 0, 'the pods wrote their store over TLS as the ACL user');
  } finally {
    client.disconnect();
  }
  // Without the Secret the pods never start: the kubelet waits for the volume.
  await assert.rejects(fx.startPods(withHosts(objects, {}), 1), /Secret redis-tls not found/);
});

it('(h) Cluster: three masters, the node list from the example, a password from the chart\'s Secret', async () => {
  const cluster = await OwnRedisCluster.start();
  cleanups.push(() => cluster.stop());
  const password = 'change-me-redis-password';
  for (const node of cluster.nodes) {
    const client = node.connect();
    try {
      await client.config('SET', 'requirepass', password);
    } finally {
      client.disconnect();
    }
  }
  const objects = renderChart(example('redis-cluster'));
  const nodes = dataOf(objects, 'ConfigMap')['REDIS_CLUSTER_NODES']!.split(',');
  assert.equal(nodes.length, cluster.nodes.length);
  const hosts = Object.fromEntries(nodes.map((name, i) => [name, `127.0.0.1:${cluster.nodes[i]!.port}`]));
  await allReadyWithFlags(withHosts(objects, hosts));
  // Every key of the agent cluster carries the prefix's hash tag, so one node (one slot) holds them all.
  const keysByNode: string[][] = [];
  for (const node of cluster.nodes) {
    const client = node.connect({ password });
    try {
      keysByNode.push(await client.keys('*'));
    } finally {
      client.disconnect();
    }
  }
  const holders = keysByNode.filter((keys) => keys.length > 0);
  assert.equal(holders.length, 1, `keys on one node only: ${JSON.stringify(keysByNode)}`);
  assert.ok(holders[0]!.every((key) => key.startsWith('{featbit-agent:}')), holders[0]!.join(' '));
});

it('(g) Sentinel: one master, one replica, three sentinels; the data password from the Redis release\'s Secret, the sentinels\' from the chart\'s', async () => {
  const sentinels = await OwnRedisSentinels.start({ password: 'change-me-redis-password', sentinelPassword: 'change-me-sentinel-password' });
  cleanups.push(() => sentinels.stop());
  const objects = renderChart(example('redis-sentinel'));
  const config = dataOf(objects, 'ConfigMap');
  assert.equal(config['REDIS_SENTINEL_MASTER'], sentinels.masterName);
  const names = config['REDIS_SENTINELS']!.split(',');
  const hosts = Object.fromEntries(names.map((name, i) => [name, `127.0.0.1:${sentinels.hostPorts[i]!.port}`]));
  // What the Bitnami redis chart creates: Secret "redis" with key redis-password.
  const redisSecret: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis' }, data: { 'redis-password': Buffer.from('change-me-redis-password').toString('base64') } };
  assert.equal(dataOf(objects, 'Secret')['REDIS_PASSWORD'], undefined);
  await assert.rejects(fx.startPods(withHosts(objects, hosts), 1), /Secret "redis" has no key "redis-password"/);
  await allReadyWithFlags(withHosts([...objects, redisSecret], hosts));
});
