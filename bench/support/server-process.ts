/**
 * A server under test, run in its own process (pinned to the server core by child.ts) so the load
 * generator and the WebSocket receivers get the other core.
 * argv[2]: `agent` (the real agent, offline, memory store, DATA_FILE from argv[3]),
 * `bare-http` (node:http answering every request with the bytes of file argv[3]),
 * `nest-ceiling` (a one-route Nest + fastify app: method argv[4], path argv[5], the bytes of argv[3]),
 * `bare-ws` (plain `ws` server holding sockets; `broadcast` sends one frame to all).
 * Reports `{ port }` over IPC, then answers one message per command:
 *  `rss` → RSS and JS memory after a GC;
 *  `loop` → the event-loop delay (p99, max) and CPU time since the previous `loop`;
 *  `cpu` → `process.cpuUsage()` (user and system µs this process has used so far);
 *  `broadcast` (bare-ws) / `patch` / `full` (agent) → the monotonic time the send started
 *  (`stampedAt`, ms) once everything is handed to the sockets.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { createApp } from '../../src/app.factory.js';
import { loadConfig } from '../../src/config/load-config.js';
import { offlineConfig } from '../../test/support/agent-app.js';
import { PushService } from '../../src/streaming/push.service.js';
import { FLAG_STORE, type FlagStore } from '../../src/store/flag-store.js';
import type { StoreItem } from '../../src/store/data-set.js';
import { startNestCeiling } from './nest-ceiling.js';
import { monotonicMs } from './pinned.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

type Command =
  | { cmd: 'rss' }
  | { cmd: 'cpu' }
  | { cmd: 'broadcast'; data: string }
  | { cmd: 'fan-out' }
  | { cmd: 'patch'; flagKey: string }
  | { cmd: 'full' }
  | { cmd: 'loop' }
  | { cmd: 'exit' };

function rss(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed + usage.external + usage.arrayBuffers };
}

async function main(): Promise<void> {
  const [kind, file, method, path] = process.argv.slice(2);
  let port = 0;
  let sockets: Set<WebSocket> | undefined;
  let pushes: PushService | undefined;
  let store: FlagStore | undefined;
  if (kind === 'agent') {
    // The production defaults of these settings, or the values in this environment.
    const env = process.env;
    const production = loadConfig({
      RATE_LIMIT_PER_SECOND: env['RATE_LIMIT_PER_SECOND'],
      RATE_LIMIT_BURST: env['RATE_LIMIT_BURST'],
      INSIGHTS_MAX_QUEUE_BYTES: env['INSIGHTS_MAX_QUEUE_BYTES'],
      WS_UPGRADES_PER_SECOND: env['WS_UPGRADES_PER_SECOND'],
      WS_UPGRADE_BURST: env['WS_UPGRADE_BURST'],
    });
    // BENCH_EVENT_URI: forward insights there (the insights benchmark).
    const eventUri = env['BENCH_EVENT_URI'];
    const insights = eventUri
      ? {
          eventUri: new URL(eventUri),
          insightsMode: 'forward' as const,
          insights: { mode: 'forward' as const, maxQueue: 1_000_000, maxQueueBytes: production.insights.maxQueueBytes, keepProperties: [], dir: './insights', retentionDays: 30 },
        }
      : {};
    // BENCH_HTTP_LIMITS (the abuse benchmark): the production HTTP rate limit and upgrade bound;
    // other benches load the agent from one address without them, as the tests do.
    const base = offlineConfig({ dataFile: file, ...insights });
    const limits = env['BENCH_HTTP_LIMITS']
      ? {
          http: production.http,
          streaming: { ...base.streaming, upgradesPerSecond: production.streaming.upgradesPerSecond, upgradeBurst: production.streaming.upgradeBurst },
        }
      : {};
    const app = await createApp({ ...base, ...limits }, { logger: false });
    pushes = app.get(PushService);
    store = app.get<FlagStore>(FLAG_STORE);
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as { port: number }).port;
  } else if (kind === 'bare-http') {
    const body = readFileSync(file ?? '');
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  } else if (kind === 'nest-ceiling') {
    port = await startNestCeiling(method === 'POST' ? 'POST' : 'GET', path ?? '/', readFileSync(file ?? ''));
  } else if (kind === 'bare-ws') {
    const server = createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    sockets = wss.clients;
    wss.on('connection', (socket) => socket.on('message', () => socket.send('{"messageType":"pong","data":{}}')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  } else {
    throw new Error(`unknown server kind ${kind ?? ''}`);
  }

  // One flag changed per `patch`: toggled and a second newer each time, as an upstream patch is.
  let version = Date.parse('2027-01-01T00:00:00Z');
  function nextPatch(flagKey: string): StoreItem {
    for (const env of store?.data.snapshot().envs ?? []) {
      const flag = env.flags.find((f) => f.json['key'] === flagKey);
      if (!flag) continue;
      version += 1000;
      const json = { ...flag.json, isEnabled: !flag.json['isEnabled'], updatedAt: new Date(version).toISOString() };
      return { ...flag, timestamp: version, json };
    }
    throw new Error(`no flag ${flagKey}`);
  }

  // `loop`: the event loop's delay (p99, max) and this process's CPU time since the last `loop`.
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  let cpuBefore = process.cpuUsage();
  process.on('message', (message: Command) => {
    void (async () => {
      if (message.cmd === 'rss') process.send?.(rss());
      else if (message.cmd === 'loop') {
        const cpu = process.cpuUsage(cpuBefore);
        cpuBefore = process.cpuUsage();
        process.send?.({ p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6, cpuMs: (cpu.user + cpu.system) / 1000 });
        loopDelay.reset();
      }
      else if (message.cmd === 'cpu') process.send?.(process.cpuUsage());
      else if (message.cmd === 'fan-out') process.send?.({ ...pushes?.lastFanOut });
      else if (message.cmd === 'broadcast') {
        const frame = Buffer.from(message.data);
        const stampedAt = monotonicMs();
        for (const socket of sockets ?? []) socket.send(frame, { binary: false });
        process.send?.({ stampedAt, sockets: sockets?.size ?? 0 });
      } else if (message.cmd === 'patch' || message.cmd === 'full') {
        if (!store || !pushes) throw new Error('not an agent');
        const item = message.cmd === 'patch' ? nextPatch(message.flagKey) : undefined;
        const data = message.cmd === 'full' ? store.data.snapshot() : undefined;
        const stampedAt = monotonicMs();
        if (item) await store.applyPatch([item]);
        if (data) await store.replaceAll(data, { pushAll: true });
        await pushes.idle();
        process.send?.({ stampedAt, fanOut: { ...pushes.lastFanOut } });
      } else process.exit(0);
    })().catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  });
  // A clean exit writes --cpu-prof profiles (BENCH_CPU_PROF).
  process.on('SIGTERM', () => process.exit(0));
  // The benchmark that started this process is gone (crashed, or killed by a timeout).
  process.on('disconnect', () => process.exit(0));
  process.send?.({ port, ...rss() });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
