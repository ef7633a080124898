/**
 * The multi-process fan-out harness: the server under test on core 0, its WebSocket clients held by
 * several receiver processes on core 1 (so receiving is not the bottleneck), every arrival stamped
 * on the system-wide monotonic clock and compared with the moment the server started the send.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerChild } from './child.js';
import { percentile } from './child.js';
import { LOAD_CORE, forkPinned, loadAverage, median } from './pinned.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Collected {
  arrivals: number[];
  missing: number;
  closed: number;
  sample?: string;
}

class Receiver {
  private readonly waiting: ((message: unknown) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message) => this.waiting.shift()?.(message));
  }

  static async start(): Promise<Receiver> {
    const child = forkPinned(LOAD_CORE, join(here, 'receiver.js'), [], ['--max-old-space-size=2048']);
    const receiver = new Receiver(child);
    await new Promise<void>((resolve, reject) => {
      receiver.waiting.push(() => resolve());
      child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    });
    return receiver;
  }

  ask<T>(message: unknown): Promise<T> {
    return new Promise<T>((resolve) => {
      this.waiting.push((answer) => resolve(answer as T));
      this.child.send(message as never);
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** Several receiver processes on the load core sharing the sockets of each group evenly. */
export class Receivers {
  private constructor(private readonly list: Receiver[]) {}

  static async start(count: number): Promise<Receivers> {
    return new Receivers(await Promise.all(Array.from({ length: count }, () => Receiver.start())));
  }

  get count(): number {
    return this.list.length;
  }

  /** Opens `n` sockets to `port`+`path` (`{token}` → a streaming token for `secret`); each sends its data-sync and awaits the answer. */
  async open(group: string, port: number, path: string, secret: string, n: number, sync: 'server' | 'client' | 'none'): Promise<number> {
    const start = performance.now();
    const share = Math.ceil(n / this.list.length);
    await Promise.all(
      this.list.map((r, i) => r.ask({ cmd: 'open', group, port, path, secret, n: Math.max(0, Math.min(share, n - i * share)), first: i * share, sync })),
    );
    return performance.now() - start;
  }

  async arm(group: string, keepFirst: boolean): Promise<void> {
    await Promise.all(this.list.map((r, i) => r.ask({ cmd: 'arm', group, keepFirst: keepFirst && i === 0 })));
  }

  async collect(group: string, timeoutMs: number): Promise<Collected> {
    const parts = await Promise.all(this.list.map((r) => r.ask<Collected>({ cmd: 'collect', group, timeoutMs })));
    const sample = parts.find((p) => p.sample !== undefined)?.sample;
    return {
      arrivals: parts.flatMap((p) => p.arrivals),
      missing: parts.reduce((sum, p) => sum + p.missing, 0),
      closed: parts.reduce((sum, p) => sum + p.closed, 0),
      ...(sample === undefined ? {} : { sample }),
    };
  }

  async close(group: string): Promise<void> {
    await Promise.all(this.list.map((r) => r.ask({ cmd: 'close', group })));
  }

  stop(): void {
    for (const r of this.list) r.stop();
  }
}

export interface RoundResult {
  p50: number;
  p99: number;
  max: number;
  sockets: number;
  /** The frame socket 0 received (when asked to keep it). */
  sample?: string;
  /** The agent's own record of the fan-out (agent rounds). */
  inside?: { sockets: number; ms: number };
  load: string;
}

/**
 * One change sent by `server` (the IPC `trigger`) to every socket of `group`: times from the
 * server starting the send to each socket holding the complete message.
 */
export async function fanOutRound(
  server: ServerChild,
  receivers: Receivers,
  group: string,
  trigger: unknown,
  options: { keep?: boolean; type?: 'server' | 'client'; timeoutMs?: number } = {},
): Promise<RoundResult> {
  const { keep = false, type = 'server', timeoutMs = 60_000 } = options;
  const load = loadAverage();
  await receivers.arm(group, keep);
  const answer = await server.ask<{ stampedAt: number; fanOut?: Record<string, { sockets: number; ms: number }> }>(trigger);
  const got = await receivers.collect(group, timeoutMs);
  if (got.missing > 0) throw new Error(`${group}: ${got.missing} sockets got nothing (${got.closed} closed)`);
  const times = got.arrivals.map((at) => at - answer.stampedAt).sort((a, b) => a - b);
  const inside = answer.fanOut?.[type];
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: percentile(times, 100),
    sockets: times.length,
    load,
    ...(got.sample === undefined ? {} : { sample: got.sample }),
    ...(inside ? { inside } : {}),
  };
}

export function formatRound(label: string, r: RoundResult): string {
  return `${label.padEnd(6)} p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  max ${r.max.toFixed(1).padStart(6)} ms  (${r.sockets} sockets)`;
}

export interface Scenario {
  title: string;
  agent: ServerChild;
  ws: ServerChild;
  receivers: Receivers;
  agentGroup: string;
  wsGroup: string;
  trigger: unknown;
  rounds: number;
  /** The SDK type of the sockets (which agent-side fan-out record to print). */
  type: 'server' | 'client';
  /** Agent p99 and max at most this multiple of plain ws's (or undefined). */
  maxRatio?: number;
  /** Agent p99 at most this many ms (or undefined). */
  maxP99?: number;
}

export interface ScenarioResult {
  agent: RoundResult[];
  ws: RoundResult[];
  frameBytes: number;
}

/**
 * A warm-up agent round (keeping the frame socket 0 got) and a warm-up `ws` round broadcasting
 * that same frame, then `rounds` alternating rounds of each; prints every round and the medians.
 */
export async function runScenario(s: Scenario): Promise<ScenarioResult> {
  const warm = await fanOutRound(s.agent, s.receivers, s.agentGroup, s.trigger, { keep: true, type: s.type });
  const frame = warm.sample;
  if (frame === undefined) throw new Error('no frame captured');
  const broadcast = { cmd: 'broadcast', data: frame };
  await fanOutRound(s.ws, s.receivers, s.wsGroup, broadcast);
  console.log(`${s.title}: frame ${Buffer.byteLength(frame)} bytes (${(Buffer.byteLength(frame) / 1024).toFixed(1)} KiB) at socket 0; ${s.rounds} alternating rounds after a warm-up`);
  const result: ScenarioResult = { agent: [], ws: [], frameBytes: Buffer.byteLength(frame) };
  for (let round = 1; round <= s.rounds; round++) {
    const w = await fanOutRound(s.ws, s.receivers, s.wsGroup, broadcast);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const a = await fanOutRound(s.agent, s.receivers, s.agentGroup, s.trigger, { type: s.type });
    await new Promise((resolve) => setTimeout(resolve, 200));
    result.ws.push(w);
    result.agent.push(a);
    console.log(
      `  round ${round} (load ${a.load}): ${formatRound('ws', w)} | ${formatRound('agent', a)}` +
        (a.inside ? `  [agent-side fan-out ${a.inside.ms.toFixed(1)} ms]` : ''),
    );
  }
  const m = (list: RoundResult[], key: 'p50' | 'p99' | 'max'): number => median(list.map((r) => r[key]));
  const line = (label: string, list: RoundResult[]): string =>
    `  ${label.padEnd(10)} median p50 ${m(list, 'p50').toFixed(1)} ms  p99 ${m(list, 'p99').toFixed(1)} ms  max (last socket) ${m(list, 'max').toFixed(1)} ms  ` +
    `[max over rounds: ${list.map((r) => r.max.toFixed(0)).join(', ')} ms]`;
  console.log(line('plain ws', result.ws));
  console.log(line('agent', result.agent));
  const p99Ratio = m(result.agent, 'p99') / m(result.ws, 'p99');
  const maxRatio = m(result.agent, 'max') / m(result.ws, 'max');
  let verdict = '';
  if (s.maxRatio !== undefined) verdict += `; target ≤ ${s.maxRatio}× ws: ${p99Ratio <= s.maxRatio && maxRatio <= s.maxRatio ? 'met' : 'NOT met'}`;
  if (s.maxP99 !== undefined) verdict += `; target p99 ≤ ${s.maxP99} ms: ${m(result.agent, 'p99') <= s.maxP99 ? 'met' : 'NOT met'}`;
  console.log(`  agent/ws: p99 ${p99Ratio.toFixed(2)}×, last socket ${maxRatio.toFixed(2)}×${verdict}`);
  return result;
}
