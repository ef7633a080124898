import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_DATA_FILE } from '../support/sample-data.js';
import { example, renderChart } from './helm.js';
import { PodFixture, deploymentOf, drains, relayProxyKey, sampleKeys, serverFlags } from './pod-fixture.js';

/** Pod-run, offline mode fed by FeatBit's push: the chart's push values sets started as their pod spec says (pod-fixture.ts). */
const fx = new PodFixture();

it('(b) offline with bootstrap push: not Ready until FeatBit pushes through the admin Service, then Ready', async () => {
  const objects = renderChart(example('offline-push'));
  const admin = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'flags-featbit-agent-admin') as { spec: { publishNotReadyAddresses: boolean; selector: Record<string, string> } } | undefined;
  assert.ok(admin, 'no admin Service');
  assert.equal(admin.spec.publishNotReadyAddresses, true);
  const podLabels = deploymentOf(objects).spec.template.metadata.labels;
  for (const [k, v] of Object.entries(admin.spec.selector)) assert.equal(podLabels[k], v, 'the admin Service selects the pods');
  const [pod] = await fx.startPods(fx.cluster(objects));
  await pod!.waitStarted();
  const before = await pod!.probe(pod!.container.readinessProbe!);
  assert.equal(before.status, 503, 'no data yet: the SDK Service does not route here');
  // FeatBit's "Check Availability" and "Sync", through the admin Service (not-ready pods included).
  assert.equal((await fetch(pod!.url('/health/liveness'))).status, 200);
  const key = relayProxyKey(objects);
  const push = await fetch(pod!.url('/api/public/proxy/bootstrap'), {
    method: 'POST',
    headers: { authorization: key, 'content-type': 'application/json' },
    body: readFileSync(SAMPLE_DATA_FILE, 'utf8'),
  });
  assert.equal(push.status, 200, await push.text());
  await pod!.waitReady({ afterEvent: true });
  assert.deepEqual(await serverFlags(pod!), sampleKeys);
  await drains(pod!);
});

it('(e) SQLite on a PVC: the pushed data is on the claim and a new pod is Ready from it without a push', async () => {
  const objects = renderChart(example('sqlite-pvc'));
  assert.ok(objects.some((o) => o.kind === 'PersistentVolumeClaim'));
  const c = fx.cluster(objects);
  const [first] = await fx.startPods(c);
  await first!.waitStarted();
  const key = relayProxyKey(objects);
  const push = await fetch(first!.url('/api/public/proxy/bootstrap'), { method: 'POST', headers: { authorization: key, 'content-type': 'application/json' }, body: readFileSync(SAMPLE_DATA_FILE, 'utf8') });
  assert.equal(push.status, 200);
  await first!.waitReady({ afterEvent: true });
  const claimDir = first!.mounts.get('/data')!;
  assert.ok(existsSync(join(claimDir, 'featbit.db')), 'the SQLite file is on the claim');
  await drains(first!);
  const [second] = await fx.startPods(c, 1);
  await second!.waitStarted();
  await second!.waitReady();
  assert.deepEqual(await serverFlags(second!), sampleKeys);
  await drains(second!);
});

