import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { SERVER_CORE, SERVER_NODE_FLAGS, forkPinned } from './pinned.js';

const here = dirname(fileURLToPath(import.meta.url));

export type ServerKind = 'agent' | 'bare-http' | 'nest-ceiling' | 'bare-ws';

export interface ServerChild {
  port: number;
  /** RSS and JS memory (heap used + external) after a GC, in bytes. */
  rss(): Promise<{ rss: number; heap: number }>;
  /** User + system CPU time the process has used so far, in µs. */
  cpu(): Promise<number>;
  send(message: unknown): void;
  /** Ask the child and wait for its one-message answer. */
  ask<T>(message: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts bench/support/server-process.js pinned to the server core and waits for its port.
 * `args`: for `nest-ceiling`, the method and path of its one route. `script`: another build's
 * server-process.js (an A/B of two builds of the agent).
 */
export async function startServerChild(
  kind: ServerKind,
  file = '',
  env: Record<string, string> = {},
  args: string[] = [],
  script = join(here, 'server-process.js'),
): Promise<ServerChild> {
  // BENCH_CPU_PROF=1: each server writes a V8 CPU profile to .tmp when it stops; BENCH_CPU_PROF_INTERVAL: µs between samples.
  const interval = process.env['BENCH_CPU_PROF_INTERVAL'];
  const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=.tmp', ...(interval ? [`--cpu-prof-interval=${interval}`] : [])] : [];
  const execArgv = ['--expose-gc', '--max-old-space-size=4096', ...SERVER_NODE_FLAGS, ...profile];
  const child: ChildProcess = forkPinned(SERVER_CORE, script, [kind, file, ...args], execArgv, env);
  const first = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number }));
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  const ask = <T>(message: unknown): Promise<T> =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve(m as T));
      child.send(message as never);
    });
  return {
    port: first.port,
    rss: () => ask<{ rss: number; heap: number }>({ cmd: 'rss' }),
    cpu: () => ask<NodeJS.CpuUsage>({ cmd: 'cpu' }).then((u) => u.user + u.system),
    send: (message) => child.send(message as never),
    ask,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(process.env['BENCH_CPU_PROF'] ? 'SIGTERM' : 'SIGKILL');
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
