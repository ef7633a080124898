import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { OwnRedis, freePort } from './redis.js';

const run = promisify(execFile);

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`${what} not reached in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (+10000) is free and valid too (ephemeral ports can be above 55535). */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
}

/** Three masters (`--cluster-enabled yes`) joined with `redis-cli --cluster create`, no replicas. */
export class OwnRedisCluster {
  private constructor(
    readonly nodes: OwnRedis[],
    private readonly dir: string,
  ) {}

  static async start(masters = 3): Promise<OwnRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
    const nodes: OwnRedis[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await freeClusterPort();
      nodes.push(
        await OwnRedis.start(port, { args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'], cwd: dir }),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const node of nodes) {
      const client = node.connect();
      try {
        await until(async () => String(await client.cluster('INFO')).includes('cluster_state:ok'), 15_000, 'cluster_state:ok');
      } finally {
        client.disconnect();
      }
    }
    return new OwnRedisCluster(nodes, dir);
  }

  get hostPorts(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** `REDIS_CLUSTER_NODES` for agent processes. */
  get nodeList(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await node.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One master, one replica and three `redis-server --sentinel` processes watching `mymaster`. */
export class OwnRedisSentinels {
  readonly masterName = 'mymaster';

  private constructor(
    readonly master: OwnRedis,
    readonly replica: OwnRedis,
    private readonly sentinels: { port: number; process: ChildProcess }[],
    private readonly dir: string,
    private readonly sentinelPassword?: string,
  ) {}

  /** With `auth`: the data nodes require `auth.password`, the sentinels `auth.sentinelPassword`. */
  static async start(auth?: { password: string; sentinelPassword: string }): Promise<OwnRedisSentinels> {
    const dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-'));
    // Replication writes an RDB file: keep it in the temporary directory.
    const nodeAuth = auth
      ? { args: ['--requirepass', auth.password, '--masterauth', auth.password], client: { password: auth.password }, cwd: dir }
      : { args: [], cwd: dir };
    const master = await OwnRedis.start(undefined, nodeAuth);
    const replica = await OwnRedis.start(undefined, { ...nodeAuth, args: [...nodeAuth.args, '--replicaof', '127.0.0.1', String(master.port)] });
    const sentinels: { port: number; process: ChildProcess }[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `sentinel monitor mymaster 127.0.0.1 ${master.port} 2`,
          'sentinel down-after-milliseconds mymaster 1000',
          'sentinel failover-timeout mymaster 5000',
          'sentinel parallel-syncs mymaster 1',
          ...(auth ? [`sentinel auth-pass mymaster ${auth.password}`, `requirepass ${auth.sentinelPassword}`, `sentinel sentinel-pass ${auth.sentinelPassword}`] : []),
          '',
        ].join('\n'),
      );
      sentinels.push({ port, process: spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore', cwd: dir }) });
    }
    const set = new OwnRedisSentinels(master, replica, sentinels, dir, auth?.sentinelPassword);
    // Every sentinel knows the master, the replica and the other sentinels.
    for (const s of sentinels) {
      const client = new Redis({ host: '127.0.0.1', port: s.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, password: auth?.sentinelPassword });
      client.on('error', () => undefined);
      try {
        await until(
          async () => {
            if (client.status !== 'ready') await client.connect().catch(() => undefined);
            const info = (await client.call('SENTINEL', 'MASTER', 'mymaster')) as string[];
            const field = (name: string): string => info[info.indexOf(name) + 1] ?? '';
            return Number(field('num-slaves')) >= 1 && Number(field('num-other-sentinels')) >= 2;
          },
          20_000,
          'sentinels ready',
        );
      } finally {
        client.disconnect();
      }
    }
    return set;
  }

  get hostPorts(): { host: string; port: number }[] {
    return this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /** `REDIS_SENTINELS` for agent processes. */
  get sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** The port the sentinels name as master now. */
  async masterPort(): Promise<number> {
    const client = new Redis({ host: '127.0.0.1', port: this.sentinels[0]!.port, maxRetriesPerRequest: 1, password: this.sentinelPassword });
    try {
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as [string, string];
      return Number(port);
    } finally {
      client.disconnect();
    }
  }

  /**
   * Waits until the replica has everything the master holds (link up, replication offsets equal).
   * Right after start the replica may still be in its first (diskless, delayed) sync: a failover
   * then promotes an empty replica.
   */
  async replicaInSync(timeoutMs = 20_000): Promise<void> {
    const master = this.master.connect();
    const replica = this.replica.connect();
    const field = (info: string, name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
    try {
      await until(
        async () => {
          const [m, r] = [String(await master.info('replication')), String(await replica.info('replication'))];
          return field(r, 'master_link_status') === 'up' && field(m, 'master_repl_offset') === field(r, 'slave_repl_offset');
        },
        timeoutMs,
        'replica in sync',
      );
    } finally {
      master.disconnect();
      replica.disconnect();
    }
  }

  /** Kills the master and waits until the sentinels have promoted the replica. */
  async failover(): Promise<void> {
    await this.master.stop();
    await until(async () => (await this.masterPort()) === this.replica.port, 30_000, 'failover to the replica');
    const client = this.replica.connect();
    try {
      await until(async () => String(await client.info('replication')).includes('role:master'), 10_000, 'replica promoted');
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sentinels) {
      if (s.process.exitCode !== null || s.process.signalCode !== null) continue;
      await new Promise<void>((resolve) => {
        s.process.once('exit', () => resolve());
        s.process.kill('SIGKILL');
      });
    }
    await this.master.stop();
    await this.replica.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
