import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

/** The shared Redis of the machine (CI exports REDIS_URL; a missing server fails, never skips). */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A fresh key prefix per test, so suites never see each other's keys. */
export function freshPrefix(): string {
  return `test:${randomUUID().slice(0, 12)}:`;
}

export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A redis-server of the test's own, on a free port, without persistence: it can be stopped and restarted empty. */
export class OwnRedis {
  private process?: ChildProcess;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly options: OwnRedisOptions = {},
  ) {}

  /** `options.args` are appended to the command line (TLS, ACL users, cluster or sentinel mode); `options.client` is how the test reaches it. */
  static async start(port?: number, options: OwnRedisOptions = {}): Promise<OwnRedis> {
    const redis = new OwnRedis(port ?? (await freePort()), options);
    await redis.restart();
    return redis;
  }

  /** What the server printed (for failures). */
  get logs(): string {
    return this.output;
  }

  /** A connection to this server with the test's client options (TLS, credentials). */
  connect(extra: RedisOptions = {}): Redis {
    return new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: 1, ...this.options.client, ...extra });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(this.options.args ?? [])];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.options.cwd });
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.process = child;
    const client = this.connect({ lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    const end = Date.now() + 5000;
    for (;;) {
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return;
      } catch (error) {
        if (Date.now() > end) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** A hung Redis: SIGSTOP (connections stay open, nothing answers). */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.process?.kill('SIGCONT');
  }

  /** A client of this server for the test itself (CLIENT KILL, inspection). */
  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1 });
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

export interface OwnRedisOptions {
  /** Extra redis-server arguments (later ones override earlier ones, e.g. `--port 0 --tls-port N`). */
  args?: string[];
  /** How the test's own clients reach the server (TLS options, username, password). */
  client?: RedisOptions;
  /** Working directory (cluster config files). */
  cwd?: string;
}
