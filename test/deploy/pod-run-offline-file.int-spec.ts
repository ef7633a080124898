import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_DATA_FILE } from '../support/sample-data.js';
import { example, renderChart, type K8sObject } from './helm.js';
import { isRoot, Pod } from './pod.js';
import { PodFixture, deploymentOf, drains, sampleKeys, serverFlags } from './pod-fixture.js';

/** Pod-run, offline mode with a data file: the chart's values sets started as their pod spec says (pod-fixture.ts). */
const fx = new PodFixture();

it('runs as the non-root user the chart sets, on a working tree that user cannot write', () => {
  const spec = deploymentOf(renderChart(example('offline-push'))).spec.template.spec;
  assert.equal(spec.securityContext?.runAsNonRoot, true);
  const uid = spec.securityContext?.runAsUser ?? 0;
  assert.notEqual(uid, 0);
  assert.equal(spec.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
  const write = (path: string) =>
    spawnSync(process.execPath, ['-e', 'require("node:fs").writeFileSync(process.argv[1], "x")', path], { ...(isRoot ? { uid, gid: spec.securityContext?.runAsGroup ?? uid } : {}) });
  assert.notEqual(write(join(fx.appDir, 'new-file')).status, 0, 'the app directory is read-only');
  assert.notEqual(write(join(fx.appDir, 'package.json')).status, 0, 'the app files are read-only');
  assert.notEqual(write(join(fx.appDir, 'node_modules', 'ws', 'package.json')).status, 0, 'node_modules is read-only');
});

it('ships production dependencies only', () => {
  const lock = JSON.parse(readFileSync(join(process.cwd(), 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const dev = Object.entries(lock.packages).filter(([p, e]) => e.dev && p.split('node_modules/').length === 2).map(([p]) => p.slice('node_modules/'.length));
  const present = readdirSync(join(fx.appDir, 'node_modules')).flatMap((n) => (n.startsWith('@') ? readdirSync(join(fx.appDir, 'node_modules', n)).map((m) => `${n}/${m}`) : [n]));
  assert.ok(dev.length > 10);
  assert.deepEqual(present.filter((p) => dev.includes(p)), []);
  assert.ok(present.includes('sqlite3'));
});

it('(a) offline with the data file the chart keeps in a ConfigMap: both replicas Ready, same flags', async () => {
  const c = fx.cluster(renderChart(example('offline-datafile')));
  const started = await fx.startPods(c);
  assert.equal(started.length, 2);
  for (const pod of started) {
    await pod.waitStarted();
    const ready = await pod.waitReady();
    assert.equal(ready.body, 'Healthy');
    assert.deepEqual(await serverFlags(pod), ['dark-mode']);
    assert.ok(pod.env['DATA_FILE']?.endsWith('flags.json'));
  }
  for (const pod of started) await drains(pod);
});

it("(a') offline with the data file from an existing ConfigMap, and not started without it", async () => {
  const objects = renderChart(example('offline-existing-configmap'));
  // kubectl create configmap featbit-flags --from-file=flags.json=data/sample-bootstrap.json
  const configMap: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'featbit-flags' }, data: { 'flags.json': readFileSync(SAMPLE_DATA_FILE, 'utf8') } };
  const spec = deploymentOf(objects).spec.template.spec;
  await assert.rejects(Pod.start(fx.cluster(objects), spec, 'flags-featbit-agent-missing'), /ConfigMap featbit-flags not found/);
  const started = await fx.startPods(fx.cluster([...objects, configMap]));
  for (const pod of started) {
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  for (const pod of started) await drains(pod);
});
