import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export interface ServerChild {
  port: number;
  /** RSS and JS memory (heap used + external) after a GC, in bytes. */
  rss(): Promise<{ rss: number; heap: number }>;
  send(message: unknown): void;
  /** Ask the child and wait for its one-message answer. */
  ask<T>(message: unknown): Promise<T>;
  stop(): Promise<void>;
}

/** Forks bench/support/server-process.js and waits for its port. */
export async function startServerChild(kind: 'agent' | 'bare-http' | 'bare-ws', file = '', env: Record<string, string> = {}): Promise<ServerChild> {
  const child: ChildProcess = fork(join(here, 'server-process.js'), [kind, file], {
    env: { ...process.env, ...env },
    execArgv: ['--expose-gc', '--max-old-space-size=4096', ...(process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=.tmp'] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const first = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number }));
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  return {
    port: first.port,
    rss: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { rss: number; heap: number }));
        child.send({ cmd: 'rss' });
      }),
    send: (message) => child.send(message as never),
    ask: <T>(message: unknown) =>
      new Promise<T>((resolve) => {
        child.once('message', (m) => resolve(m as T));
        child.send(message as never);
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill(process.env['BENCH_CPU_PROF'] ? 'SIGTERM' : 'SIGKILL');
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
