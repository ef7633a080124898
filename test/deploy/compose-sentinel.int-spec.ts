import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { AgentProcess } from '../support/agent-process.js';
import { postBootstrap } from '../support/agent-app.js';
import { OwnRedis, freePort } from '../support/redis.js';
import { SERVER_SECRET, sampleBootstrap } from '../support/sample-data.js';

/**
 * docker-compose.yml's "sentinel" profile run as processes on this machine: its redis-server
 * commands and sentinel.conf as written there, each service name resolved to 127.0.0.1 and each
 * container port moved to a free port (the compose network stand-in), and the two agents with the
 * environment compose gives them. A bootstrap pushed to one agent reaches the other; after the
 * master is killed the sentinels (with the profile's own timings) promote the replica, the agents
 * follow, and a push made after the failover reaches both.
 */
interface Service {
  image?: string;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(join(process.cwd(), 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const profile = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('sentinel'));
const isSentinel = (s: Service): boolean => s.command?.join(' ').includes('--sentinel') ?? false;
const dataNodes = profile.filter(([, s]) => s.image?.startsWith('redis:') && !isSentinel(s));
const sentinelNodes = profile.filter(([, s]) => isSentinel(s));
const agentNodes = profile.filter(([, s]) => s.environment?.['REDIS_SENTINELS'] !== undefined);

/** service name → its port here (data nodes listen on 6379 in the compose network, sentinels on 26379). */
const ports = new Map<string, number>();
const dir = mkdtempSync(join(tmpdir(), 'compose-sentinel-'));
const data = new Map<string, OwnRedis>();
const sentinels: ChildProcess[] = [];
const agents: AgentProcess[] = [];

/** Service names → 127.0.0.1, and `<service> <containerPort>` / `<service>:<containerPort>` → the port here. */
function rewrite(text: string): string {
  return text.replace(/\b([a-z][-a-z0-9]*)([ :])(6379|26379)\b/g, (m, name: string, sep: string) => (ports.has(name) ? `127.0.0.1${sep}${ports.get(name)}` : m)).replace(/\b([a-z][-a-z0-9]*)\b/g, (m, name: string) => (ports.has(name) ? '127.0.0.1' : m));
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`${what} not reached in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function sentinelCall<T>(port: number, ...args: string[]): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.call('SENTINEL', ...args)) as T;
  } finally {
    client.disconnect();
  }
}

async function darkMode(agent: AgentProcess): Promise<unknown> {
  const response = await fetch(`${agent.httpUrl}/api/public/sdk/server/latest-all`, { headers: { authorization: SERVER_SECRET }, signal: AbortSignal.timeout(2000) });
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { data: { featureFlags: Record<string, unknown>[] } };
  return body.data.featureFlags.find((f) => f['key'] === 'dark-mode')?.['isEnabled'];
}

function bootstrapWith(darkModeOn: boolean): unknown {
  const body = sampleBootstrap();
  const flag = body.items[0]!.featureFlags.find((f) => f['key'] === 'dark-mode')!;
  flag['isEnabled'] = darkModeOn;
  flag['updatedAt'] = new Date().toISOString();
  return body;
}

before(async () => {
  assert.deepEqual(dataNodes.map(([n]) => n), ['redis-primary', 'redis-replica']);
  assert.equal(sentinelNodes.length, 3);
  assert.equal(agentNodes.length, 2);
  for (const [name] of [...dataNodes, ...sentinelNodes]) ports.set(name, await freePort());
  // Data nodes: the compose command, rewritten; the primary first (the replica names it).
  for (const [name, service] of dataNodes) {
    const [binary, ...args] = service.command!;
    assert.equal(binary, 'redis-server');
    // Rewritten as one line, so `--replicaof redis-primary 6379` moves host and port together.
    assert.ok(args.every((arg) => !arg.includes(' ')));
    const rewritten = rewrite(args.join(' ')).split(' ');
    data.set(name, await OwnRedis.start(ports.get(name), { args: [...rewritten, '--port', String(ports.get(name))], cwd: dir }));
  }
  // Sentinels: the sentinel.conf the compose command writes, rewritten, run as the command runs it.
  for (const [name, service] of sentinelNodes) {
    const script = service.command!.join(' ');
    const conf = /<<'CONF'\n([\s\S]*?)\nCONF\n/.exec(script)?.[1];
    assert.ok(conf, `${name} writes sentinel.conf`);
    assert.match(script, /exec redis-server \/tmp\/sentinel\.conf --sentinel/);
    const local = conf.split('\n').map((line) => (/^port 26379$/.test(line.trim()) ? `port ${ports.get(name)}` : rewrite(line.trim())));
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, [...local, 'bind 127.0.0.1', `dir ${dir}`, ''].join('\n'));
    sentinels.push(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore', cwd: dir }));
  }
  for (const [name] of sentinelNodes) {
    await until(
      async () => {
        const info = await sentinelCall<string[]>(ports.get(name)!, 'MASTER', 'mymaster');
        const field = (key: string): number => Number(info[info.indexOf(key) + 1]);
        return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
      },
      30_000,
      `${name} sees the replica and the other sentinels`,
    );
  }
});

after(async () => {
  for (const agent of agents) await agent.kill();
  for (const child of sentinels) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
  for (const node of data.values()) await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('compose profile "sentinel": the agents share the master the sentinels name, and follow it through a failover', async (t) => {
  for (const [name, service] of agentNodes) {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      const resolved = String(value).replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, _name: string, fallback: string | undefined) => fallback ?? '');
      if (resolved !== '' && key !== 'PORT') env[key] = rewrite(resolved);
    }
    assert.equal(env['REDIS_SENTINELS']!.split(',').length, 3, name);
    agents.push(await AgentProcess.start(env));
  }
  const [a, b] = agents as [AgentProcess, AgentProcess];
  assert.equal((await postBootstrap(a.httpUrl, bootstrapWith(false))).status, 200);
  await b.until(async () => (await darkMode(b)) === false, 15_000);
  for (const agent of agents) await agent.until(async () => (await agent.readiness())[0] === 200, 15_000);

  const killedAt = Date.now();
  await data.get('redis-primary')!.stop();
  const replicaPort = ports.get('redis-replica')!;
  await until(async () => Number((await sentinelCall<string[]>(ports.get(sentinelNodes[0]![0])!, 'GET-MASTER-ADDR-BY-NAME', 'mymaster'))[1]) === replicaPort, 60_000, 'failover to the replica');
  t.diagnostic(`the sentinels promoted the replica ${Date.now() - killedAt} ms after the master was killed (down-after-milliseconds as in docker-compose.yml)`);
  // Served from memory meanwhile.
  for (const agent of agents) assert.equal(await darkMode(agent), false);

  // A push after the failover, to the other agent, reaches both through the promoted master.
  let answer = 'none';
  await b.until(async () => {
    const response = await postBootstrap(b.httpUrl, bootstrapWith(true));
    answer = `${response.status} ${(await response.text()).slice(0, 300)}`;
    return response.status === 200;
  }, 30_000);
  for (const agent of agents) {
    // This failed twice in about 45 runs: when the promoted replica had not synced, the bootstrap to
    // the lease holder was dropped with a 200 (fixed in the Redis store). A failure names every agent's log.
    await agent.until(async () => (await darkMode(agent)) === true, 30_000).catch((error: unknown) => {
      const others = agents.filter((other) => other !== agent).map((other) => `--- other agent's output:\n${other.logs}`);
      throw new Error(`${String(error)}\n--- the bootstrap to b answered: ${answer}\n${others.join('\n')}`);
    });
  }
  for (const agent of agents) await agent.until(async () => (await agent.readiness())[1] === 'Healthy', 30_000);
});
