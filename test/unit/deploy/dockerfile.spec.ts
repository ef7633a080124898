import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { readDockerfile, runtimeStage, userIds } from '../../deploy/dockerfile.js';

/**
 * The image right by construction, read from the Dockerfile and .dockerignore (no Docker engine
 * here): test/deploy/pod-run-image.int-spec.ts starts the agent as the runtime stage's ENV, USER,
 * WORKDIR, VOLUME and CMD say.
 */

/** Docker's .dockerignore rule: the last matching pattern wins, `!` re-includes; a match covers what lies below. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize(l.replace(/^!/, '')).replace(/\/$/, '').replace(/^\.\//, '');
      const source = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => {
    let excluded = false;
    for (const rule of rules) if (rule.regex.test(path)) excluded = !rule.negate;
    return !excluded;
  };
}

const stages = readDockerfile();
const runtime = runtimeStage();
const inContext = dockerignore(readFileSync(join(process.cwd(), '.dockerignore'), 'utf8'));

describe('Dockerfile', () => {
  it('runs on a current Node LTS base', () => {
    for (const stage of stages) assert.match(stage.from, /^node:(22|24)(\.\d+)*-(bookworm|trixie)-slim$/, stage.from);
  });

  it('keeps every write under one VOLUME owned by the non-root runtime user', () => {
    assert.equal(runtime.volumes.length, 1);
    const volume = runtime.volumes[0]!;
    for (const name of ['SQLITE_PATH', 'INSIGHTS_DIR']) {
      assert.ok(runtime.env[name]?.startsWith(`${volume}/`), `${name}=${runtime.env[name]} lies under VOLUME ${volume}`);
    }
    const { uid, gid } = userIds(runtime.user);
    assert.notEqual(uid, 0);
    assert.match(runtime.user ?? '', /^\d+:\d+$/, 'numeric, so runAsNonRoot can verify it');
    const chown = runtime.instructions.findIndex((i) => i.keyword === 'RUN' && i.args.includes(`chown -R ${uid}:${gid} ${volume}`));
    const declared = runtime.instructions.findIndex((i) => i.keyword === 'VOLUME');
    assert.ok(chown >= 0 && chown < declared, 'the volume is given to the user before VOLUME (later changes would be discarded)');
    assert.equal(runtime.env['NODE_ENV'], 'production');
    assert.equal(runtime.workdir, '/app');
    assert.deepEqual(runtime.cmd, ['node', '--single-threaded-gc', 'dist/main.js']);
    assert.deepEqual(runtime.expose, [runtime.env['PORT']]);
    assert.ok(runtime.instructions.some((i) => i.keyword === 'HEALTHCHECK' && i.args.includes('/health/liveness')));
  });

  it('carries the OCI labels', () => {
    for (const key of ['title', 'description', 'version', 'revision', 'source', 'licenses', 'base.name']) {
      assert.ok(runtime.labels[`org.opencontainers.image.${key}`], key);
    }
    assert.equal(runtime.labels['org.opencontainers.image.base.name'], runtime.from);
    const version = (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(runtime.labels['org.opencontainers.image.version'], version);
  });

  it('ships no dev dependencies and nothing test-only in the runtime stage', () => {
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    const modules = copies.find((c) => c.includes('node_modules'));
    const from = /--from=(\S+)/.exec(modules ?? '')?.[1];
    const source = stages.find((s) => s.name === from);
    assert.ok(source, 'node_modules come from a stage of their own');
    const installs = source.instructions.filter((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args));
    assert.ok(installs.length > 0 && installs.every((i) => i.args.includes('--omit=dev')), 'that stage installs with --omit=dev only');
    assert.ok(!source.instructions.some((i) => i.keyword === 'COPY' && /\b(src|test)\b/.test(i.args)));
    assert.ok(!runtime.instructions.some((i) => /npm (ci|install)/.test(i.args)), 'no install in the runtime stage');
    for (const copy of copies) assert.doesNotMatch(copy, /\b(test|bench|helm|\.test-build|scripts)\b/, copy);
  });

  it('.dockerignore sends what the Dockerfile copies and nothing else', () => {
    const needed = [...new Set(stages.flatMap((s) => s.contextSources))];
    assert.ok(needed.length >= 5);
    for (const path of needed) {
      const clean = posix.normalize(path).replace(/\/$/, '');
      assert.ok(existsSync(join(process.cwd(), clean)), `${clean} exists`);
      assert.ok(inContext(clean), `${clean} is in the build context`);
    }
    assert.ok(inContext('src/main.ts'));
    assert.ok(inContext('data/sample-bootstrap.json'));
    for (const path of ['node_modules', 'node_modules/ws/index.js', 'dist/main.js', '.test-build/x.js', '.git/HEAD', 'test/unit/x.spec.ts', 'bench/run-all.ts', 'helm/featbit-agent/Chart.yaml', '.env', 'featbit.db', 'insights/x.ndjson', '.tools/helm', 'src/x.spec.ts', 'README.md']) {
      assert.ok(!inContext(path), `${path} stays out of the build context`);
    }
  });
});
