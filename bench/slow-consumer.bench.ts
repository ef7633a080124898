/**
 * Dropping a socket that stopped reading: how long the event loop is held when a socket with many
 * small writes queued is destroyed. Node fails each queued write with the stream's error and, when
 * the stream was destroyed without one (ws's `terminate()`, its close timeout), builds a new
 * ERR_STREAM_DESTROYED with a stack trace for each write. The agent destroys upgraded sockets with
 * one shared error (`destroyWithSharedError`). Baseline, in the same run: the same socket and
 * queue dropped with ws's own `terminate()`.
 * Queues from 10,000 writes to 466,000 (what WS_MAX_BUFFERED_BYTES let a socket queue before
 * queued writes were counted), to show how the cost grows with the queue.
 * One process, pinned to the server core: the client only holds its end open, unread.
 * Usage: node .test-build/bench/slow-consumer.bench.js [--short]
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { destroyWithSharedError } from '../src/streaming/featbit-ws.adapter.js';
import { PONG } from '../src/streaming/protocol.js';
import { SERVER_CORE, pinProcess } from './support/pinned.js';

const { values } = parseArgs({ options: { short: { type: 'boolean', default: false } } });
pinProcess(process.pid, SERVER_CORE);

interface Queued {
  socket: WebSocket;
  raw: Socket;
  client: Socket;
}

/** A server socket whose client never reads, sent pongs until `count` writes are queued in Node. */
async function queued(server: WebSocketServer, port: number, count: number): Promise<Queued> {
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  client.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((resolve) => client.once('data', resolve));
  client.pause();
  const socket = await accepted;
  const raw = (socket as unknown as { _socket: Socket })._socket;
  // The kernel takes the first megabyte or so; then writes queue in Node (ws writes a pong as two).
  while (queuedWrites(raw) < count) {
    for (let i = 0; i < 1000; i++) socket.send(PONG);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { socket, raw, client };
}

function queuedWrites(raw: Socket): number {
  const state = (raw as unknown as { _writableState: { buffered: unknown[]; bufferedIndex: number } })._writableState;
  return state.buffered.length - state.bufferedIndex;
}

/** Destroys the socket and returns the longest the event loop was held in the next 300 ms. */
async function drop(target: Queued, how: 'terminate' | 'shared'): Promise<{ entries: number; heldMs: number }> {
  const entries = queuedWrites(target.raw);
  if (how === 'shared') (target.raw as unknown as { destroy: typeof destroyWithSharedError }).destroy = destroyWithSharedError;
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const start = performance.now();
  last = start;
  target.socket.terminate();
  await new Promise((resolve) => setTimeout(resolve, 300));
  clearInterval(timer);
  target.client.destroy();
  return { entries, heldMs: worst };
}

const server = new WebSocketServer({ port: 0, perMessageDeflate: false });
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as { port: number }).port;
// 37,000: about what WS_MAX_BUFFERED_BYTES (8 MiB) lets the agent queue now for pongs; 466,000:
// what it let ws queue before queued writes were counted (8 MiB of 36-byte pongs, two writes each).
const counts = values.short ? [37_000] : [10_000, 37_000, 150_000, 466_000];
const rounds = values.short ? 1 : 3;
console.log('slow consumer dropped: longest event-loop hold after destroying a socket with small writes queued (pongs sent to a client that never reads; median of ' + rounds + ')');
console.log('| writes queued in Node | ws terminate() (Node builds an error per write) | agent: one shared error | ratio |');
console.log('| --- | --- | --- | --- |');
for (const count of counts) {
  const plain: number[] = [];
  const shared: number[] = [];
  let entries = 0;
  for (let round = 0; round < rounds; round++) {
    const a = await drop(await queued(server, port, count), 'terminate');
    const b = await drop(await queued(server, port, count), 'shared');
    plain.push(a.heldMs);
    shared.push(b.heldMs);
    entries = Math.max(entries, a.entries, b.entries);
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`| ${entries.toLocaleString('en')} | ${median(plain).toFixed(1)} ms | ${median(shared).toFixed(1)} ms | ${(median(plain) / median(shared)).toFixed(0)}× |`);
}
server.close();
