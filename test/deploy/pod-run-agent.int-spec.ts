import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sObject } from './helm.js';
import { example, renderChart } from './helm.js';
import { PodFixture, drains, sampleKeys, serverFlags } from './pod-fixture.js';

/** Pod-run, agent mode: the chart's agent-mode values sets against the fake FeatBit and a redis-server of the test's own. */
const fx = new PodFixture({ featbit: true, redis: true });

it('(c) agent mode, memory store: every pod syncs from FeatBit and becomes Ready', async () => {
  const c = fx.cluster(renderChart(example('agent-memory')));
  const started = await fx.startPods(c);
  assert.equal(started.length, 2);
  for (const pod of started) {
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  assert.ok(fx.fake!.registrations.some((r) => r.agentId === 'flags-featbit-agent'));
  for (const pod of started) await drains(pod);
});

it('(d) agent mode on Redis with HPA: the minimum pods share the store and all become Ready', async () => {
  const c = fx.cluster(renderChart([...example('agent-redis-hpa'), '--set', 'store.redis.keyPrefix=pod-run-hpa:']));
  const started = await fx.startPods(c);
  assert.equal(started.length, 3);
  for (const pod of started) await pod.waitStarted();
  for (const pod of started) {
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  for (const pod of started) await drains(pod);
});

it('agent mode on Redis with credentials from an existing Secret', async () => {
  const objects = renderChart([...example('existing-secret'), '--set', 'store.redis.keyPrefix=pod-run-secret:']);
  assert.ok(!objects.some((o) => o.kind === 'Secret'));
  // kubectl create secret generic featbit-agent-credentials --from-literal=API_KEY=… --from-literal=REDIS_URL=…
  const secret: K8sObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'featbit-agent-credentials' },
    data: { API_KEY: Buffer.from('rp-MzIxMDA2NTIyNzY3MQG558Sj8tWkuMbX6PmgscLQ').toString('base64'), REDIS_URL: Buffer.from('redis://redis-master:6379').toString('base64') },
  };
  const [pod] = await fx.startPods(fx.cluster([...objects, secret]));
  await pod!.waitStarted();
  await pod!.waitReady();
  assert.equal(pod!.env['REDIS_URL'], fx.redis!.url);
  assert.deepEqual(await serverFlags(pod!), sampleKeys);
  await drains(pod!);
});

