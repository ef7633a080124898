import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export interface ServerChild {
  port: number;
  /** RSS and JS memory (heap used + external) after a GC, in bytes. */
  rss(): Promise<{ rss: number; heap: number }>;
  send(message: unknown): void;
  stop(): Promise<void>;
}

/** Forks bench/support/server-process.js and waits for its port. */
export async function startServerChild(kind: 'agent' | 'bare-http' | 'bare-ws', file = ''): Promise<ServerChild> {
  const child: ChildProcess = fork(join(here, 'server-process.js'), [kind, file], {
    execArgv: ['--expose-gc', '--max-old-space-size=4096'],
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
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
