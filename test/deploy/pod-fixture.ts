import { after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { FakeFeatBitServer } from '../support/fake-featbit/fake-featbit-server.js';
import { OwnRedis } from '../support/redis.js';
import { SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';
import { runtimeStage, type DockerStage } from './dockerfile.js';
import type { K8sObject } from './helm.js';
import { Pod, podRoot, prepareApp, removeRoot, type Cluster, type Deployment } from './pod.js';

/**
 * What the pod-run files share (test/deploy/pod-run-*.int-spec.ts): a production-only copy of the
 * built app as the image holds it, the fake FeatBit and a redis-server of their own behind the
 * cluster names the examples use, and cleanup of every pod a test starts. The chart's documented
 * values sets (helm/featbit-agent/examples) and the Dockerfile are run as a cluster and Docker would
 * run them (see pod.ts). This stands in for a cluster until one can run here.
 */
export class PodFixture {
  root = '';
  image!: DockerStage;
  appDir = '';
  fake?: FakeFeatBitServer;
  redis?: OwnRedis;
  readonly pods: Pod[] = [];
  private count = 0;

  /** Registers the file's hooks; tests in the file run in order, each test's pods gone after it. */
  constructor(needs: { featbit?: boolean; redis?: boolean } = {}) {
    before(async () => {
      this.root = podRoot();
      this.image = runtimeStage();
      this.appDir = prepareApp(this.root, this.image);
      if (needs.featbit) this.fake = await FakeFeatBitServer.start({ data: sampleBootstrap() });
      if (needs.redis) this.redis = await OwnRedis.start();
    });
    // A failed test leaves no process behind.
    afterEach(async () => {
      await Promise.all(this.pods.splice(0).map((p) => p.kill()));
    });
    after(async () => {
      await this.fake?.stop();
      await this.redis?.stop();
      if (this.root) removeRoot(this.root);
    });
  }

  /** Cluster DNS: the names in the examples, here. */
  cluster(objects: K8sObject[]): Cluster {
    const hosts: Record<string, string> = {};
    if (this.fake) hosts['featbit-els:5100'] = `127.0.0.1:${this.fake.port}`;
    if (this.redis) hosts['redis-master:6379'] = `127.0.0.1:${this.redis.port}`;
    return { objects, image: this.image, appDir: this.appDir, hosts, root: this.root };
  }

  async startPods(c: Cluster, count = expectedPods(c.objects)): Promise<Pod[]> {
    const spec = deploymentOf(c.objects).spec.template.spec;
    const started = await Promise.all(Array.from({ length: count }, () => Pod.start(c, spec, `flags-featbit-agent-5d8f7c-${this.count++}`)));
    this.pods.push(...started);
    return started;
  }
}

export function deploymentOf(objects: K8sObject[]): Deployment {
  const deployment = objects.find((o) => o.kind === 'Deployment') as Deployment | undefined;
  assert.ok(deployment, 'no Deployment rendered');
  return deployment;
}

/** The pods a fresh install starts: replicas, or the HPA's minimum (at most 3 here). */
export function expectedPods(objects: K8sObject[]): number {
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as { spec: { minReplicas: number } } | undefined;
  return Math.min(hpa?.spec.minReplicas ?? deploymentOf(objects).spec.replicas ?? 1, 3);
}

export async function serverFlags(pod: Pod): Promise<string[]> {
  const response = await fetch(pod.url('/api/public/sdk/server/latest-all'), { headers: { authorization: SERVER_SECRET } });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { data: { featureFlags: { key: string }[] } };
  return body.data.featureFlags.map((f) => f.key).sort();
}

/** Deletes the pod: it must end its drain before the grace period's SIGKILL. */
export async function drains(pod: Pod): Promise<void> {
  const end = await pod.terminate();
  assert.equal(end.killed, false, `SIGKILL before the drain ended:\n${pod.logs}`);
  // Nest's shutdown hooks end by re-raising the signal: SIGTERM after a finished drain, or exit 0.
  assert.ok(end.code === 0 || end.signal === 'SIGTERM', `exit ${end.code} ${end.signal}:\n${pod.logs}`);
}

/** The relay proxy key FeatBit sends, as the chart's Secret holds it. */
export function relayProxyKey(objects: K8sObject[]): string {
  const secret = objects.find((o) => o.kind === 'Secret');
  const key = (secret?.['stringData'] as Record<string, string> | undefined)?.['API_KEY'];
  assert.ok(key, 'the chart keeps API_KEY in its Secret');
  return key;
}

export const sampleKeys = sampleBootstrap().items[0]!.featureFlags.map((f) => String(f['key'])).sort();
