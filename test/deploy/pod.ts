import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { freePort } from '../support/redis.js';
import type { DockerStage } from './dockerfile.js';
import { userIds } from './dockerfile.js';
import type { K8sObject } from './helm.js';

/**
 * A stand-in for a kubelet: starts the built agent the way a rendered pod spec and the image say
 * (environment from the image's ENV, the container's envFrom and env with ConfigMap and Secret
 * references resolved; the user from runAsUser or the image's USER; the working directory; the
 * command), on a read-only copy of the app where only the pod's volume mounts are writable, and
 * runs the rendered startup, liveness and readiness probes with their own periods, thresholds and
 * timeouts. The pod's network namespace is emulated by moving each containerPort to a free port,
 * cluster DNS by a host map (`featbit-els:5100` → the fake FeatBit; in URLs and in `host:port,...` lists).
 */

export interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: unknown;
  exec?: unknown;
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

interface EnvFrom {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  readOnlyRootFilesystem?: boolean;
}

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: SecurityContext;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
}

interface Volume {
  name: string;
  emptyDir?: object;
  persistentVolumeClaim?: { claimName: string };
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: unknown[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
}

export interface Deployment extends K8sObject {
  spec: { replicas?: number; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
}

/** What the pods of one test share: the objects in the namespace, claims, DNS, the image. */
export interface Cluster {
  objects: K8sObject[];
  image: DockerStage;
  /** The app as the image holds it (WORKDIR), read-only to the pod's user. */
  appDir: string;
  /** `host:port` in URLs → `127.0.0.1:port` on this machine. */
  hosts?: Record<string, string>;
  /** Persistent volume claims by name → a directory that outlives pods. */
  claims?: Map<string, string>;
  /** Where pod directories go; removed by the test. */
  root: string;
}

const isRoot = process.getuid?.() === 0;

function kvOf(object: K8sObject): Record<string, string> {
  const out: Record<string, string> = {};
  const data = (object['data'] ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(data)) out[k] = object.kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
  Object.assign(out, (object['stringData'] ?? {}) as Record<string, string>);
  return out;
}

function find(cluster: Cluster, kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> | undefined {
  const object = cluster.objects.find((o) => o.kind === kind && o.metadata.name === name);
  return object ? kvOf(object) : undefined;
}

/** Resolves a container's environment as the kubelet does; a missing required reference stops the pod. */
export function resolveEnv(cluster: Cluster, container: Container, podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  const expand = (value: string): string => value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (!ref) throw new Error(`unsupported envFrom ${JSON.stringify(source)}`);
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const data = find(cluster, kind, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new Error(`CreateContainerConfigError: ${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) if (/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(k)) env[`${source.prefix ?? ''}${k}`] = v;
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = expand(variable.value);
      continue;
    }
    const from = variable.valueFrom;
    const ref = from?.configMapKeyRef ?? from?.secretKeyRef;
    if (ref) {
      const kind = from?.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const value = find(cluster, kind, ref.name)?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new Error(`CreateContainerConfigError: ${kind} "${ref.name}" has no key "${ref.key}" (env ${variable.name})`);
      }
      env[variable.name] = value;
    } else if (from?.fieldRef) {
      const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': 'featbit', 'status.podIP': '127.0.0.1' };
      const value = fields[from.fieldRef.fieldPath];
      if (value === undefined) throw new Error(`unsupported fieldRef ${from.fieldRef.fieldPath}`);
      env[variable.name] = value;
    } else {
      env[variable.name] = '';
    }
  }
  return env;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    newest = Math.max(newest, stat.isDirectory() ? newestMtime(path) : stat.mtimeMs);
  }
  return newest;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** `npm run build` when dist/ is older than src/, one test file at a time (a lock directory). */
function buildDist(repo: string, dist: string): void {
  const fresh = (): boolean => existsSync(join(dist, 'main.js')) && newestMtime(join(repo, 'src')) <= newestMtime(dist);
  if (fresh()) return;
  const lock = join(repo, '.tools', 'dist-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (const end = Date.now() + 180_000; ; ) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock left by a killed run is older than any build.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > end) throw new Error(`${lock} held for 180 s`, { cause: error });
      sleepSync(200);
    }
  }
  try {
    if (!fresh()) execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'inherit' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The app as the Dockerfile's runtime stage holds it: `npm run build` output (dist/, rebuilt here
 * when older than src/), package.json, data/, and node_modules with the production dependencies of
 * package-lock.json only, so an import of a dev or test package fails as it would in the image.
 * Files are root's (hard links to node_modules) and not writable by the pod's user.
 */
export function prepareApp(root: string, stage: DockerStage): string {
  const repo = process.cwd();
  const dist = join(repo, 'dist');
  buildDist(repo, dist);
  const app = join(root, 'image', stage.workdir.replace(/^\/+/, ''));
  mkdirSync(app, { recursive: true });
  chmodSync(join(root, 'image'), 0o755);
  cpSync(dist, join(app, 'dist'), { recursive: true });
  cpSync(join(repo, 'package.json'), join(app, 'package.json'));
  cpSync(join(repo, 'data'), join(app, 'data'), { recursive: true });
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const modules = join(repo, 'node_modules');
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || path.indexOf('node_modules/', 1) >= 0 || entry.dev) continue;
    const target = join(app, path);
    mkdirSync(dirname(target), { recursive: true });
    const source = join(modules, path.slice('node_modules/'.length));
    // The lock may list a package the installed tree no longer has; the app runs without it here too.
    if (!existsSync(source)) continue;
    try {
      execFileSync('cp', ['-al', source, target]);
    } catch {
      cpSync(source, target, { recursive: true });
    }
  }
  // Our copies and every directory are closed to writes; hard-linked files are left alone (a chmod
  // would change the originals too) and stay their owner's, 0644.
  execFileSync('find', [app, '(', '-path', join(app, 'node_modules'), '-prune', ')', '-o', '-type', 'f', '-exec', 'chmod', 'a-w', '{}', '+']);
  execFileSync('find', [app, '-type', 'd', '-exec', 'chmod', 'a-w', '{}', '+']);
  return app;
}

function mkdirOwned(path: string, uid: number, gid: number, mode: number): string {
  mkdirSync(path, { recursive: true });
  if (isRoot) chownSync(path, uid, gid);
  chmodSync(path, mode);
  return path;
}

export class Pod {
  private output = '';
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly started = Date.now();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly container: Container,
    readonly spec: PodSpec,
    readonly env: Record<string, string>,
    /** containerPort → port on this machine. */
    readonly ports: Map<number, number>,
    /** mountPath → directory on this machine. */
    readonly mounts: Map<string, string>,
    readonly uid: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts the container `containerName` of a pod spec; `extraEnv` stands for variables the runtime adds. */
  static async start(cluster: Cluster, spec: PodSpec, name: string, containerName = 'agent'): Promise<Pod> {
    const container = spec.containers.find((c) => c.name === containerName);
    if (!container) throw new Error(`no container ${containerName}`);
    if ((spec.initContainers ?? []).length > 0) throw new Error('init containers are not emulated');
    const image = cluster.image;
    const imageUser = userIds(image.user);
    const podSc = spec.securityContext ?? {};
    const sc = { ...podSc, ...container.securityContext };
    const uid = sc.runAsUser ?? imageUser.uid;
    const gid = sc.runAsGroup ?? imageUser.gid;
    const fsGroup = podSc.fsGroup ?? gid;
    if (sc.runAsNonRoot && uid === 0) throw new Error('CreateContainerConfigError: runAsNonRoot and the image runs as root');
    const podDir = mkdtempSync(join(cluster.root, `${name}-`));
    chmodSync(podDir, 0o755);

    // Volumes: each mount is a directory of its own; everything else is the read-only image.
    const mounts = new Map<string, string>();
    for (const mount of container.volumeMounts ?? []) {
      const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
      if (!volume) throw new Error(`volume ${mount.name} is mounted but not declared`);
      if (mount.subPath) throw new Error('subPath mounts are not emulated');
      let dir: string;
      if (volume.emptyDir) {
        dir = mkdirOwned(join(podDir, 'volumes', volume.name), uid, fsGroup, mount.readOnly ? 0o555 : 0o2775);
      } else if (volume.persistentVolumeClaim) {
        const claims = cluster.claims ?? new Map<string, string>();
        const claim = volume.persistentVolumeClaim.claimName;
        const declared = cluster.objects.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim);
        if (!declared && !claims.has(claim)) throw new Error(`PersistentVolumeClaim ${claim} not found: the pod stays Pending`);
        dir = claims.get(claim) ?? mkdirOwned(join(cluster.root, `claim-${claim}`), 0, fsGroup, 0o2775);
        claims.set(claim, dir);
        cluster.claims = claims;
      } else if (volume.configMap || volume.secret) {
        const kind = volume.configMap ? 'ConfigMap' : 'Secret';
        const ref = volume.configMap ? { ...volume.configMap } : { ...volume.secret!, name: volume.secret!.secretName };
        const data = find(cluster, kind, ref.name);
        if (!data && !ref.optional) throw new Error(`${kind} ${ref.name} not found: the pod stays in ContainerCreating`);
        dir = mkdirOwned(join(podDir, 'volumes', volume.name), 0, 0, 0o755);
        for (const item of ref.items ?? Object.keys(data ?? {}).map((key) => ({ key, path: key }))) {
          const value = data?.[item.key];
          if (value === undefined) throw new Error(`${kind} ${ref.name} has no key ${item.key}: the pod stays in ContainerCreating`);
          writeFileSync(join(dir, item.path), value, { mode: 0o644 });
        }
        chmodSync(dir, 0o555);
      } else {
        throw new Error(`volume ${volume.name}: type not emulated`);
      }
      mounts.set(mount.mountPath, dir);
    }

    // Container paths → paths here: the mounts, and the image's own files (read-only).
    const pathMap: [string, string][] = [...mounts.entries(), [image.workdir, cluster.appDir]];
    pathMap.sort((a, b) => b[0].length - a[0].length);
    const toHost = (value: string): string => {
      for (const [inside, outside] of pathMap) {
        if (value === inside || value.startsWith(inside.endsWith('/') ? inside : `${inside}/`)) return join(outside, relative(inside, value));
      }
      return value;
    };

    // The network namespace: each containerPort on a free port here.
    const ports = new Map<number, number>();
    for (const port of container.ports ?? []) ports.set(port.containerPort, await freePort());

    const podEnv = resolveEnv(cluster, container, name);
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: '/',
      ...image.env,
      HOSTNAME: name,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      ...podEnv,
    };
    for (const [key, value] of Object.entries(env)) {
      let next = isAbsolute(value) ? toHost(value) : value;
      for (const [host, here] of Object.entries(cluster.hosts ?? {})) next = next.replaceAll(`//${host}`, `//${here}`);
      // `host:port,host:port` lists (REDIS_SENTINELS, REDIS_CLUSTER_NODES) name hosts without a scheme.
      if (/^[-.\w]+:\d+(,[-.\w]+:\d+)*$/.test(next)) next = next.split(',').map((entry) => cluster.hosts?.[entry] ?? entry).join(',');
      env[key] = next;
    }
    // The agent must listen on the port the pod declares.
    const declared = Number(env['PORT']);
    const hostPort = ports.get(declared);
    if (hostPort === undefined) throw new Error(`PORT=${env['PORT']} is not a containerPort of ${containerName} (${[...ports.keys()].join(', ')})`);
    env['PORT'] = String(hostPort);
    // /tmp: the mount when there is one; with a read-only root, nowhere writable otherwise.
    const tmp = mounts.get('/tmp') ?? (sc.readOnlyRootFilesystem ? mkdirOwned(join(podDir, 'rootfs-tmp'), 0, 0, 0o755) : mkdirOwned(join(podDir, 'tmp'), 0, 0, 0o1777));
    env['TMPDIR'] = tmp;

    const argv = container.command ?? [...(image.entrypoint ?? []), ...(container.args ? [] : image.cmd ?? [])];
    if (container.args) argv.push(...container.args);
    if (argv[0] !== 'node') throw new Error(`the container runs ${argv.join(' ')}, not node`);
    const cwd = toHost(container.workingDir ?? image.workdir);
    const child = spawn(process.execPath, argv.slice(1), {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid, gid } : {}),
    });
    return new Pod(name, child, container, spec, env, ports, mounts, uid);
  }

  get logs(): string {
    return this.output;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The host port of a probe's `port` (a number or a port name). */
  portOf(port: number | string): number {
    const containerPort = typeof port === 'number' ? port : this.container.ports?.find((p) => p.name === port)?.containerPort;
    const here = containerPort === undefined ? undefined : this.ports.get(containerPort);
    if (here === undefined) throw new Error(`probe port ${port} is not a containerPort`);
    return here;
  }

  url(path: string, containerPort = 6100): string {
    const port = this.ports.get(containerPort);
    if (port === undefined) throw new Error(`no containerPort ${containerPort}`);
    return `http://127.0.0.1:${port}${path}`;
  }

  /** One probe as the kubelet runs it: success is a 2xx or 3xx within timeoutSeconds. */
  async probe(probe: Probe): Promise<{ ok: boolean; status: number; body: string }> {
    const get = probe.httpGet;
    if (!get) throw new Error(`only httpGet probes are emulated: ${JSON.stringify(probe)}`);
    if ((get.scheme ?? 'HTTP') !== 'HTTP') throw new Error('only HTTP probes are emulated');
    const headers = Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value]));
    try {
      const response = await fetch(`http://127.0.0.1:${this.portOf(get.port)}${get.path ?? '/'}`, {
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout((probe.timeoutSeconds ?? 1) * 1000),
      });
      const body = await response.text();
      return { ok: response.status >= 200 && response.status < 400, status: response.status, body };
    } catch {
      return { ok: false, status: 0, body: '' };
    }
  }

  private async tick(seconds: number): Promise<void> {
    const exit = this.exited.then((e) => {
      throw new Error(`container exited (code ${e.code}, signal ${e.signal}):\n${this.output}`);
    });
    await Promise.race([new Promise((resolve) => setTimeout(resolve, seconds * 1000)), exit]);
  }

  /** Startup budget: initialDelaySeconds + periodSeconds × failureThreshold. */
  startupBudgetSeconds(): number {
    const p = this.container.startupProbe;
    return p ? (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3) : 0;
  }

  /**
   * The startup probe at its period until it succeeds; failureThreshold failures would restart the
   * container, so they fail here. Then liveness must pass. Returns the seconds it took.
   */
  async waitStarted(): Promise<number> {
    const startup = this.container.startupProbe;
    if (startup) {
      await this.tick(startup.initialDelaySeconds ?? 0);
      let failures = 0;
      for (;;) {
        const result = await this.probe(startup);
        if (result.ok) break;
        if (++failures >= (startup.failureThreshold ?? 3)) {
          throw new Error(`startup probe failed ${failures} times (last ${result.status}): the kubelet restarts the container\n${this.output}`);
        }
        await this.tick(startup.periodSeconds ?? 10);
      }
    }
    const liveness = this.container.livenessProbe;
    if (liveness) {
      const result = await this.probe(liveness);
      if (!result.ok) throw new Error(`liveness probe failed after start-up (${result.status})\n${this.output}`);
    }
    return (Date.now() - this.started) / 1000;
  }

  /**
   * Readiness at its period until successThreshold successes in a row, with liveness at its own
   * period (failureThreshold failures in a row fail), within the probes' budget.
   */
  async waitReady(options: { afterEvent?: boolean } = {}): Promise<{ seconds: number; body: string }> {
    const readiness = this.container.readinessProbe;
    if (!readiness) throw new Error('the container has no readiness probe');
    const liveness = this.container.livenessProbe;
    const window = (readiness.periodSeconds ?? 10) * (readiness.failureThreshold ?? 3);
    // From the container's start: the startup budget and one readiness window; after an event
    // (a push), one readiness window from now.
    const deadline = options.afterEvent ? Date.now() + window * 1000 : this.started + (this.startupBudgetSeconds() + window) * 1000;
    const budget = (deadline - this.started) / 1000;
    let successes = 0;
    let liveFailures = 0;
    let nextLive = Date.now() + (liveness?.periodSeconds ?? 10) * 1000;
    let last = { ok: false, status: 0, body: '' };
    for (;;) {
      last = await this.probe(readiness);
      successes = last.ok ? successes + 1 : 0;
      if (successes >= (readiness.successThreshold ?? 1)) return { seconds: (Date.now() - this.started) / 1000, body: last.body };
      if (liveness && Date.now() >= nextLive) {
        liveFailures = (await this.probe(liveness)).ok ? 0 : liveFailures + 1;
        if (liveFailures >= (liveness.failureThreshold ?? 3)) throw new Error(`liveness failed ${liveFailures} times: the kubelet restarts the container\n${this.output}`);
        nextLive = Date.now() + (liveness.periodSeconds ?? 10) * 1000;
      }
      if (Date.now() + (readiness.periodSeconds ?? 10) * 1000 > deadline) {
        throw new Error(`not Ready within ${budget} s (readiness ${last.status} ${last.body})\n${this.output}`);
      }
      await this.tick(readiness.periodSeconds ?? 10);
    }
  }

  /**
   * Deletion: the preStop pause (not slept here: endpoints are already gone in a cluster), SIGTERM,
   * and SIGKILL when the process outlives the rest of terminationGracePeriodSeconds.
   */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number; killed: boolean }> {
    if (!this.alive) return { ...(await this.exited), seconds: 0, killed: false };
    const grace = this.spec.terminationGracePeriodSeconds ?? 30;
    const pause = this.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const at = Date.now();
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), (grace - pause) * 1000))),
    ]);
    clearTimeout(timer);
    if (killed) this.child.kill('SIGKILL');
    return { ...(await this.exited), seconds: (Date.now() - at) / 1000, killed };
  }

  kill(): Promise<unknown> {
    if (this.alive) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** A temp root for one test file's pods and claims, reachable by the pods' user. */
export function podRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'featbit-pods-'));
  chmodSync(root, 0o755);
  return root;
}

export function removeRoot(root: string): void {
  execFileSync('find', [root, '-type', 'd', '-exec', 'chmod', 'u+w', '{}', '+']);
  rmSync(root, { recursive: true, force: true });
}

export { isRoot };
