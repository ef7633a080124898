import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { OwnRedis } from '../support/redis.js';
import { SAMPLE_DATA_FILE, SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { runtimeStage, userIds, type DockerStage } from './dockerfile.js';
import { example, renderChart, type K8sObject } from './helm.js';
import { isRoot, Pod, podRoot, prepareApp, removeRoot, type Cluster, type Deployment, type PodSpec } from './pod.js';

/**
 * The chart's documented values sets (helm/featbit-agent/examples) and the Dockerfile, run as a
 * cluster and Docker would run them (see pod.ts): rendered with `helm template`, the agent
 * container started from a production-only copy of the built app as the pod's user, with only its
 * volume mounts writable, and its rendered probes polled until Ready within their own budget.
 * This stands in for a cluster until one can run here.
 */

const NAMESPACE_HOSTS = (fake: FakeFeatBitServer, redis: OwnRedis): Record<string, string> => ({
  'featbit-els:5100': `127.0.0.1:${fake.port}`,
  'redis-master:6379': `127.0.0.1:${redis.port}`,
});

// One file, tests in order: the pods of one test are gone before the next starts.
let root: string;
let image: DockerStage;
let appDir: string;
let fake: FakeFeatBitServer;
let redis: OwnRedis;
const pods: Pod[] = [];
let podCount = 0;

before(async () => {
  root = podRoot();
  image = runtimeStage();
  appDir = prepareApp(root, image);
  fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
  redis = await OwnRedis.start();
});

// A failed test leaves no process behind.
afterEach(async () => {
  await Promise.all(pods.splice(0).map((p) => p.kill()));
});

after(async () => {
  await fake?.stop();
  await redis?.stop();
  if (root) removeRoot(root);
});

function cluster(objects: K8sObject[]): Cluster {
  return { objects, image, appDir, hosts: NAMESPACE_HOSTS(fake, redis), root };
}

function deploymentOf(objects: K8sObject[]): Deployment {
  const deployment = objects.find((o) => o.kind === 'Deployment') as Deployment | undefined;
  assert.ok(deployment, 'no Deployment rendered');
  return deployment;
}

/** The pods a fresh install starts: replicas, or the HPA's minimum (at most 3 here). */
function expectedPods(objects: K8sObject[]): number {
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as { spec: { minReplicas: number } } | undefined;
  return Math.min(hpa?.spec.minReplicas ?? deploymentOf(objects).spec.replicas ?? 1, 3);
}

async function startPods(c: Cluster, count = expectedPods(c.objects)): Promise<Pod[]> {
  const spec = deploymentOf(c.objects).spec.template.spec;
  const started = await Promise.all(Array.from({ length: count }, () => Pod.start(c, spec, `flags-featbit-agent-5d8f7c-${podCount++}`)));
  pods.push(...started);
  return started;
}

async function serverFlags(pod: Pod): Promise<string[]> {
  const response = await fetch(pod.url('/api/public/sdk/server/latest-all'), { headers: { authorization: SERVER_SECRET } });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { data: { featureFlags: { key: string }[] } };
  return body.data.featureFlags.map((f) => f.key).sort();
}

async function drains(pod: Pod): Promise<void> {
  const end = await pod.terminate();
  assert.equal(end.killed, false, `SIGKILL before the drain ended:\n${pod.logs}`);
  // Nest's shutdown hooks end by re-raising the signal: SIGTERM after a finished drain, or exit 0.
  assert.ok(end.code === 0 || end.signal === 'SIGTERM', `exit ${end.code} ${end.signal}:\n${pod.logs}`);
}

/** The relay proxy key FeatBit sends, as the chart's Secret holds it. */
function relayProxyKey(objects: K8sObject[]): string {
  const secret = objects.find((o) => o.kind === 'Secret');
  const key = (secret?.['stringData'] as Record<string, string> | undefined)?.['API_KEY'];
  assert.ok(key, 'the chart keeps API_KEY in its Secret');
  return key;
}

const sampleKeys = sampleBootstrap().items[0]!.featureFlags.map((f) => String(f['key'])).sort();

it('runs as the non-root user the chart sets, on a working tree that user cannot write', () => {
  const spec = deploymentOf(renderChart(example('offline-push'))).spec.template.spec;
  assert.equal(spec.securityContext?.runAsNonRoot, true);
  const uid = spec.securityContext?.runAsUser ?? 0;
  assert.notEqual(uid, 0);
  assert.equal(spec.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
  const write = (path: string) =>
    spawnSync(process.execPath, ['-e', 'require("node:fs").writeFileSync(process.argv[1], "x")', path], { ...(isRoot ? { uid, gid: spec.securityContext?.runAsGroup ?? uid } : {}) });
  assert.notEqual(write(join(appDir, 'new-file')).status, 0, 'the app directory is read-only');
  assert.notEqual(write(join(appDir, 'package.json')).status, 0, 'the app files are read-only');
  assert.notEqual(write(join(appDir, 'node_modules', 'ws', 'package.json')).status, 0, 'node_modules is read-only');
});

it('ships production dependencies only', () => {
  const lock = JSON.parse(readFileSync(join(process.cwd(), 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const dev = Object.entries(lock.packages).filter(([p, e]) => e.dev && p.split('node_modules/').length === 2).map(([p]) => p.slice('node_modules/'.length));
  const present = readdirSync(join(appDir, 'node_modules')).flatMap((n) => (n.startsWith('@') ? readdirSync(join(appDir, 'node_modules', n)).map((m) => `${n}/${m}`) : [n]));
  assert.ok(dev.length > 10);
  assert.deepEqual(present.filter((p) => dev.includes(p)), []);
  assert.ok(present.includes('sqlite3'));
});

it('(a) offline with the data file the chart keeps in a ConfigMap: both replicas Ready, same flags', async () => {
  const c = cluster(renderChart(example('offline-datafile')));
  const started = await startPods(c);
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
  await assert.rejects(Pod.start(cluster(objects), spec, 'flags-featbit-agent-missing'), /ConfigMap featbit-flags not found/);
  const started = await startPods(cluster([...objects, configMap]));
  for (const pod of started) {
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  for (const pod of started) await drains(pod);
});

it('(b) offline with bootstrap push: not Ready until FeatBit pushes through the admin Service, then Ready', async () => {
  const objects = renderChart(example('offline-push'));
  const admin = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'flags-featbit-agent-admin') as { spec: { publishNotReadyAddresses: boolean; selector: Record<string, string> } } | undefined;
  assert.ok(admin, 'no admin Service');
  assert.equal(admin.spec.publishNotReadyAddresses, true);
  const podLabels = deploymentOf(objects).spec.template.metadata.labels;
  for (const [k, v] of Object.entries(admin.spec.selector)) assert.equal(podLabels[k], v, 'the admin Service selects the pods');
  const [pod] = await startPods(cluster(objects));
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

it('(c) agent mode, memory store: every pod syncs from FeatBit and becomes Ready', async () => {
  const c = cluster(renderChart(example('agent-memory')));
  const started = await startPods(c);
  assert.equal(started.length, 2);
  for (const pod of started) {
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
  }
  assert.ok(fake.registrations.some((r) => r.agentId === 'flags-featbit-agent'));
  for (const pod of started) await drains(pod);
});

it('(d) agent mode on Redis with HPA: the minimum pods share the store and all become Ready', async () => {
  const c = cluster(renderChart([...example('agent-redis-hpa'), '--set', 'store.redis.keyPrefix=pod-run-hpa:']));
  const started = await startPods(c);
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
  const [pod] = await startPods(cluster([...objects, secret]));
  await pod!.waitStarted();
  await pod!.waitReady();
  assert.equal(pod!.env['REDIS_URL'], redis.url);
  assert.deepEqual(await serverFlags(pod!), sampleKeys);
  await drains(pod!);
});

it('(e) SQLite on a PVC: the pushed data is on the claim and a new pod is Ready from it without a push', async () => {
  const objects = renderChart(example('sqlite-pvc'));
  assert.ok(objects.some((o) => o.kind === 'PersistentVolumeClaim'));
  const c = cluster(objects);
  const [first] = await startPods(c);
  await first!.waitStarted();
  const key = relayProxyKey(objects);
  const push = await fetch(first!.url('/api/public/proxy/bootstrap'), { method: 'POST', headers: { authorization: key, 'content-type': 'application/json' }, body: readFileSync(SAMPLE_DATA_FILE, 'utf8') });
  assert.equal(push.status, 200);
  await first!.waitReady({ afterEvent: true });
  const claimDir = first!.mounts.get('/data')!;
  assert.ok(existsSync(join(claimDir, 'featbit.db')), 'the SQLite file is on the claim');
  await drains(first!);
  const [second] = await startPods(c, 1);
  await second!.waitStarted();
  await second!.waitReady();
  assert.deepEqual(await serverFlags(second!), sampleKeys);
  await drains(second!);
});

describe('the Dockerfile: ENV, USER, WORKDIR, VOLUME and CMD', () => {
  /** `docker run` of the image with one anonymous volume per VOLUME and the given environment. */
  function dockerRun(env: Record<string, string>): { objects: K8sObject[]; spec: PodSpec } {
    const port = Number(image.expose[0]);
    const health = image.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
    const interval = Number(/--interval=(\d+)s/.exec(health)?.[1] ?? 30);
    const timeout = Number(/--timeout=(\d+)s/.exec(health)?.[1] ?? 30);
    const { uid, gid } = userIds(image.user);
    // Docker fills a new volume from the image: owned by the runtime user when the Dockerfile chowns it.
    const chowned = image.instructions.some((i) => i.keyword === 'RUN' && i.args.includes(`chown -R ${uid}:${gid} ${image.volumes[0]}`));
    assert.ok(chowned, `the Dockerfile gives ${image.volumes[0]} to ${uid}:${gid}`);
    const spec: PodSpec = {
      securityContext: { runAsUser: uid, runAsGroup: gid },
      volumes: image.volumes.map((_, i) => ({ name: `volume-${i}`, emptyDir: {} })),
      containers: [
        {
          name: 'agent',
          ports: [{ name: 'http', containerPort: port }],
          env: Object.entries(env).map(([name, value]) => ({ name, value })),
          volumeMounts: image.volumes.map((mountPath, i) => ({ name: `volume-${i}`, mountPath })),
          livenessProbe: { httpGet: { path: '/health/liveness', port: 'http' }, periodSeconds: interval, timeoutSeconds: timeout, failureThreshold: 3 },
          readinessProbe: { httpGet: { path: '/health/readiness', port: 'http' }, periodSeconds: 1, timeoutSeconds: timeout, failureThreshold: 3 },
          startupProbe: { httpGet: { path: '/health/liveness', port: 'http' }, periodSeconds: 1, timeoutSeconds: timeout, failureThreshold: 30 },
        },
      ],
    };
    return { objects: [], spec };
  }

  const compose = parse(readFileSync(join(process.cwd(), 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> };
  const composeEnv = Object.fromEntries(Object.entries(compose.services['agent']!.environment).map(([k, v]) => [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1')]));

  it('STORE=sqlite with the image defaults writes its file to the volume', async () => {
    const { objects, spec } = dockerRun({ ...composeEnv, STORE: 'sqlite' });
    const pod = await Pod.start(cluster(objects), spec, 'docker-sqlite');
    pods.push(pod);
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
    assert.equal(pod.env['SQLITE_PATH'], join(pod.mounts.get(image.volumes[0]!)!, 'featbit.db'));
    assert.ok(existsSync(pod.env['SQLITE_PATH']));
    await drains(pod);
  });

  it('INSIGHTS_MODE=local with the image defaults keeps insights on the volume', async () => {
    const { objects, spec } = dockerRun({ ...composeEnv, INSIGHTS_MODE: 'local' });
    const pod = await Pod.start(cluster(objects), spec, 'docker-insights');
    pods.push(pod);
    await pod.waitStarted();
    await pod.waitReady();
    const track = await fetch(pod.url('/api/public/insight/track'), {
      method: 'POST',
      headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify([{ user: { keyId: 'u-pod-run', name: 'pod run' }, variations: [] }]),
    });
    assert.equal(track.status, 200);
    const dir = pod.env['INSIGHTS_DIR']!;
    assert.ok(dir.startsWith(pod.mounts.get(image.volumes[0]!)!));
    // Local writes are not awaited by the drain (seen here: an empty file after SIGTERM), so wait
    // for the line before stopping; what is checked is that the volume takes it.
    const kept = (): string => (existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('') : '');
    for (const end = Date.now() + 10_000; !kept().includes('u-pod-run') && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 50));
    await drains(pod);
    const files = readdirSync(dir);
    assert.equal(files.length, 1, `insight files: ${files.join(', ')}\n${pod.logs}`);
    assert.match(readFileSync(join(dir, files[0]!), 'utf8'), /u-pod-run/);
  });
});
