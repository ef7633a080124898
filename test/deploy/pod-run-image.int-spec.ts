import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SERVER_SECRET } from '../support/sample-data.js';
import { userIds } from './dockerfile.js';
import type { K8sObject } from './helm.js';
import { isRoot, Pod, type PodSpec } from './pod.js';
import { PodFixture, drains, sampleKeys, serverFlags } from './pod-fixture.js';

/** Pod-run, the image: the agent started as the Dockerfile's ENV, USER, WORKDIR, VOLUME, CMD and HEALTHCHECK say. */
const fx = new PodFixture();

describe('the Dockerfile: ENV, USER, WORKDIR, VOLUME, CMD and HEALTHCHECK', () => {
  /** `docker run` of the image with one anonymous volume per VOLUME and the given environment. */
  function dockerRun(env: Record<string, string>): { objects: K8sObject[]; spec: PodSpec } {
    const port = Number(fx.image.expose[0]);
    const health = fx.image.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
    const interval = Number(/--interval=(\d+)s/.exec(health)?.[1] ?? 30);
    const timeout = Number(/--timeout=(\d+)s/.exec(health)?.[1] ?? 30);
    const { uid, gid } = userIds(fx.image.user);
    // Docker fills a new volume from the image: owned by the runtime user when the Dockerfile chowns it.
    const chowned = fx.image.instructions.some((i) => i.keyword === 'RUN' && i.args.includes(`chown -R ${uid}:${gid} ${fx.image.volumes[0]}`));
    assert.ok(chowned, `the Dockerfile gives ${fx.image.volumes[0]} to ${uid}:${gid}`);
    const spec: PodSpec = {
      securityContext: { runAsUser: uid, runAsGroup: gid },
      volumes: fx.image.volumes.map((_, i) => ({ name: `volume-${i}`, emptyDir: {} })),
      containers: [
        {
          name: 'agent',
          ports: [{ name: 'http', containerPort: port }],
          env: Object.entries(env).map(([name, value]) => ({ name, value })),
          volumeMounts: fx.image.volumes.map((mountPath, i) => ({ name: `volume-${i}`, mountPath })),
          livenessProbe: { httpGet: { path: '/health/liveness', port: 'http' }, periodSeconds: interval, timeoutSeconds: timeout, failureThreshold: 3 },
          readinessProbe: { httpGet: { path: '/health/readiness', port: 'http' }, periodSeconds: 1, timeoutSeconds: timeout, failureThreshold: 3 },
          startupProbe: { httpGet: { path: '/health/liveness', port: 'http' }, periodSeconds: 1, timeoutSeconds: timeout, failureThreshold: 30 },
        },
      ],
    };
    return { objects: [], spec };
  }

  /** Docker's HEALTHCHECK command, run in the container's environment as its user. */
  function healthcheck(pod: Pod): number | null {
    const line = fx.image.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
    const argv = JSON.parse(line.slice(line.indexOf('CMD') + 3).trim()) as string[];
    assert.equal(argv[0], 'node');
    const { uid, gid } = userIds(fx.image.user);
    return spawnSync(process.execPath, argv.slice(1), { env: pod.env, ...(isRoot ? { uid, gid } : {}), timeout: 10_000 }).status;
  }

  const compose = parse(readFileSync(join(process.cwd(), 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> };
  const composeEnv = Object.fromEntries(Object.entries(compose.services['agent']!.environment).map(([k, v]) => [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1')]));

  it('STORE=sqlite with the image defaults writes its file to the volume', async () => {
    const { objects, spec } = dockerRun({ ...composeEnv, STORE: 'sqlite' });
    const pod = await Pod.start(fx.cluster(objects), spec, 'docker-sqlite');
    fx.pods.push(pod);
    await pod.waitStarted();
    await pod.waitReady();
    assert.deepEqual(await serverFlags(pod), sampleKeys);
    assert.equal(healthcheck(pod), 0, 'the HEALTHCHECK passes');
    assert.equal(pod.env['SQLITE_PATH'], join(pod.mounts.get(fx.image.volumes[0]!)!, 'featbit.db'));
    assert.ok(existsSync(pod.env['SQLITE_PATH']));
    await drains(pod);
  });

  it('INSIGHTS_MODE=local with the image defaults keeps insights on the volume', async () => {
    const { objects, spec } = dockerRun({ ...composeEnv, INSIGHTS_MODE: 'local' });
    const pod = await Pod.start(fx.cluster(objects), spec, 'docker-insights');
    fx.pods.push(pod);
    await pod.waitStarted();
    await pod.waitReady();
    const track = await fetch(pod.url('/api/public/insight/track'), {
      method: 'POST',
      headers: { authorization: SERVER_SECRET, 'content-type': 'application/json' },
      body: JSON.stringify([{ user: { keyId: 'u-pod-run', name: 'pod run' }, variations: [] }]),
    });
    assert.equal(track.status, 200);
    const dir = pod.env['INSIGHTS_DIR']!;
    assert.ok(dir.startsWith(pod.mounts.get(fx.image.volumes[0]!)!));
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
