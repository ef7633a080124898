/**
 * Processes pinned to one core. The machine has two: servers under test run on core 0, load
 * generators and WebSocket receivers on core 1, so neither steals the other's CPU.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';

export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/**
 * The V8 flags of the image's command (Dockerfile CMD). Every server under test runs with them,
 * the baselines (bare node:http, the Nest ceiling, plain ws) as well as the agent: on one core,
 * V8's helper GC threads otherwise preempt the event loop, and a comparison must not give one
 * side a different collector. `BENCH_NODE_FLAGS` replaces them (`BENCH_NODE_FLAGS=` for none).
 */
export const SERVER_NODE_FLAGS = process.env['BENCH_NODE_FLAGS']?.split(' ').filter(Boolean) ?? ['--single-threaded-gc'];

let tasksetChecked: boolean | undefined;

/** Whether `taskset` exists and the machine has a second core to pin the load on. */
export function canPin(): boolean {
  tasksetChecked ??= availableParallelism() >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

/**
 * Pins a running process, every thread of it, to `core` (`taskset -a -cp`); does nothing where
 * the harness cannot pin. A benchmark that does work of its own beside the load generator (a
 * stand-in FeatBit answering the agent, a poller) pins itself to LOAD_CORE, or the scheduler may
 * run it on the server's core.
 */
export function pinProcess(pid: number, core: number): void {
  if (canPin()) execFileSync('taskset', ['-a', '-cp', String(core), String(pid)], { stdio: 'ignore' });
}

const children = new Set<ChildProcess>();
let reaping = false;

/**
 * Kills `child` with SIGKILL when the benchmark exits, however it exits (an interrupted or
 * failed run included): a server left behind, stuck or not, would spin on the server core and
 * skew every later run (a stuck agent also ignores SIGTERM, its shutdown hook never runs).
 */
export function reapOnExit(child: ChildProcess): ChildProcess {
  if (!reaping) {
    reaping = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(128 + constants.signals[signal]));
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Spawns `command args` on `core` (unpinned, with a warning once, where taskset is missing). */
export function spawnPinned(core: number, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {}): ChildProcess {
  const stdio = options.stdio ?? ['ignore', 'inherit', 'inherit'];
  if (!canPin()) {
    warnOnce();
    return reapOnExit(spawn(command, args, { env: options.env ?? process.env, stdio }));
  }
  return reapOnExit(spawn('taskset', ['-c', String(core), command, ...args], { env: options.env ?? process.env, stdio }));
}

/** Forks a node script pinned to `core`, with an IPC channel (taskset execs node, which keeps it). */
export function forkPinned(core: number, script: string, args: string[], execArgv: string[] = [], env: Record<string, string> = {}): ChildProcess {
  return spawnPinned(core, process.execPath, [...execArgv, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

let warned = false;
function warnOnce(): void {
  if (warned) return;
  warned = true;
  console.log('WARNING: taskset or a second core is missing: processes are NOT pinned, figures are not comparable');
}

/** The 1, 5 and 15 minute load averages as `uptime` prints them. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds on the system-wide monotonic clock: comparable between processes on one machine. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
