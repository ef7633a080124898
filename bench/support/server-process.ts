/**
 * A server under test, run in its own process so the load generator gets the other core.
 * argv[2]: `agent` (the real agent, offline, memory store, DATA_FILE from argv[3]),
 * `bare-http` (node:http answering GET with the bytes of file argv[3]),
 * `bare-ws` (plain `ws` server holding sockets; `broadcast` IPC sends a frame to all).
 * Reports `{ port }` over IPC; answers `{ cmd: 'rss' }` with the RSS after a GC.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { createApp } from '../../src/app.factory.js';
import { offlineConfig } from '../../test/support/agent-app.js';
import { PushService } from '../../src/streaming/push.service.js';

type Command = { cmd: 'rss' } | { cmd: 'broadcast'; data: string } | { cmd: 'fan-out' } | { cmd: 'exit' };

function rss(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed + usage.external + usage.arrayBuffers };
}

async function main(): Promise<void> {
  const [kind, file] = process.argv.slice(2);
  let port = 0;
  let sockets: Set<WebSocket> | undefined;
  let pushes: PushService | undefined;
  if (kind === 'agent') {
    // BENCH_EVENT_URI: forward insights there (the insights benchmark).
    const eventUri = process.env['BENCH_EVENT_URI'];
    const insights = eventUri
      ? { eventUri: new URL(eventUri), insightsMode: 'forward' as const, insights: { mode: 'forward' as const, maxQueue: 1_000_000, keepProperties: [], dir: './insights', retentionDays: 30 } }
      : {};
    const app = await createApp(offlineConfig({ dataFile: file, ...insights }), { logger: false });
    pushes = app.get(PushService);
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
  process.on('message', (message: Command) => {
    if (message.cmd === 'rss') process.send?.(rss());
    else if (message.cmd === 'fan-out') process.send?.({ ...pushes?.lastFanOut });
    else if (message.cmd === 'broadcast') {
      const frame = Buffer.from(message.data);
      for (const socket of sockets ?? []) socket.send(frame, { binary: false });
    } else process.exit(0);
  });
  // A clean exit writes --cpu-prof profiles (BENCH_CPU_PROF).
  process.on('SIGTERM', () => process.exit(0));
  process.send?.({ port, ...rss() });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
