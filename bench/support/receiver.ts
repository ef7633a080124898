/**
 * A WebSocket receiving process for the fan-out benchmarks, pinned to the load core by
 * receivers.ts. It holds thousands of raw TCP sockets speaking just enough WebSocket (RFC 6455) to
 * upgrade, send one data-sync, answer pings and time the arrival of each socket's next complete
 * message on the system-wide monotonic clock, without a WebSocket library's per-message cost, so
 * the receiving side is not what is measured.
 *
 * IPC commands (one answer each):
 *  { cmd: 'open', group, port, path, n, first, sync } → { opened, ms }
 *    `path` may contain `{token}` (replaced by a fresh streaming token for `secret`);
 *    `sync`: 'server' | 'client' | 'none': the data-sync each socket sends (client: its own user,
 *    numbered from `first`) and whose answer it awaits before idling.
 *  { cmd: 'arm', group } → {}: the next complete message of each socket is timed.
 *  { cmd: 'collect', group, timeoutMs, capture } → { arrivals, missing, closed, sample? }
 *  { cmd: 'close', group } → {}
 */
import { connect, type Socket } from 'node:net';
import { encodeStreamingToken } from '../../src/credentials/streaming-token.js';
import { firstSync } from './sdk-users.js';
import { monotonicMs } from './pinned.js';

interface Conn {
  socket: Socket;
  /** Bytes of an unfinished frame header. */
  pending?: Buffer;
  /** Payload bytes still to come in the current frame. */
  remaining: number;
  opcode: number;
  fin: boolean;
  parts?: Buffer[];
  messages: number;
  armed: boolean;
  arrivedAt: number;
  /** The payload of the timed message (socket 0 of a group, when asked). */
  keep: boolean;
  kept?: Buffer;
  closed: boolean;
  onMessage?: () => void;
}

type Command =
  | { cmd: 'open'; group: string; port: number; path: string; secret: string; n: number; first: number; sync: 'server' | 'client' | 'none' }
  | { cmd: 'arm'; group: string; keepFirst: boolean }
  | { cmd: 'collect'; group: string; timeoutMs: number }
  | { cmd: 'close'; group: string };

const groups = new Map<string, Conn[]>();

/** A client frame (masked, as RFC 6455 requires; a zero key leaves the payload as it is). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(6) : length < 65536 ? Buffer.alloc(8) : Buffer.alloc(14);
  header[0] = 0x80 | opcode;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  // The last four header bytes are the (zero) masking key.
  return Buffer.concat([header, payload]);
}

function frameDone(c: Conn): void {
  const payload = c.parts && c.parts.length > 0 ? Buffer.concat(c.parts) : Buffer.alloc(0);
  c.parts = undefined;
  if (c.opcode === 0x9) {
    c.socket.write(clientFrame(0xa, payload));
    return;
  }
  if (c.opcode === 0x8) {
    c.closed = true;
    return;
  }
  if (c.opcode > 0x2 || !c.fin) return;
  c.messages++;
  if (c.armed && c.arrivedAt === 0) {
    c.arrivedAt = monotonicMs();
    if (c.keep) c.kept = payload;
  }
  c.onMessage?.();
}

/**
 * Parses the frames in `chunk`. `chunk` is the process's shared read buffer (see READ_BUFFER), so
 * whatever outlives this call (an unfinished header, a ping's payload, the captured sample) is
 * copied.
 */
function onFrames(c: Conn, chunk: Buffer): void {
  const buf = c.pending ? Buffer.concat([c.pending, chunk]) : chunk;
  c.pending = undefined;
  let i = 0;
  while (i < buf.length) {
    if (c.remaining > 0) {
      const take = Math.min(c.remaining, buf.length - i);
      // Payload bytes are kept only where they are needed (pings, the captured sample).
      if (c.opcode === 0x9 || (c.keep && c.armed && c.arrivedAt === 0)) (c.parts ??= []).push(Buffer.from(buf.subarray(i, i + take)));
      c.remaining -= take;
      i += take;
      if (c.remaining === 0) frameDone(c);
      continue;
    }
    const left = buf.length - i;
    if (left < 2) break;
    const b0 = buf[i]!;
    let length = buf[i + 1]! & 0x7f;
    let headerLength = 2;
    if (length === 126) {
      if (left < 4) break;
      length = buf.readUInt16BE(i + 2);
      headerLength = 4;
    } else if (length === 127) {
      if (left < 10) break;
      length = Number(buf.readBigUInt64BE(i + 2));
      headerLength = 10;
    }
    c.opcode = b0 & 0x0f;
    c.fin = (b0 & 0x80) !== 0;
    c.remaining = length;
    i += headerLength;
    if (length === 0) frameDone(c);
  }
  if (i < buf.length) c.pending = Buffer.from(buf.subarray(i));
}

/**
 * Every socket of this process reads into this one buffer (net's `onread`), and its bytes are
 * parsed in the read callback: no Buffer per read and no stream 'data' event, which cost about as
 * much CPU per message as a server's send and made the receivers, all on one core, the bottleneck
 * of a 10,000-socket round.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function openOne(port: number, path: string, sync: string | undefined): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let upgraded = false;
    const onRead = (bytes: number, buffer: Buffer): boolean => {
      const chunk = buffer.subarray(0, bytes);
      if (upgraded) {
        onFrames(c, chunk);
        return true;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return true;
      const status = head.subarray(0, head.indexOf('\r\n')).toString();
      if (!status.startsWith('HTTP/1.1 101')) {
        fail(new Error(`upgrade refused: ${status}`));
        return false;
      }
      upgraded = true;
      socket.removeListener('error', fail);
      socket.on('error', () => (c.closed = true));
      if (sync === undefined) resolve(c);
      else {
        c.onMessage = () => {
          c.onMessage = undefined;
          resolve(c);
        };
        socket.write(clientFrame(0x1, Buffer.from(sync)));
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) onFrames(c, rest);
      return true;
    };
    const socket = connect({ port, host: '127.0.0.1', noDelay: true, onread: { buffer: READ_BUFFER, callback: onRead } });
    const c: Conn = { socket, remaining: 0, opcode: 0, fin: true, messages: 0, armed: false, arrivedAt: 0, keep: false, closed: false };
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.on('close', () => (c.closed = true));
    socket.once('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

async function open(command: Extract<Command, { cmd: 'open' }>): Promise<{ opened: number; ms: number }> {
  const start = monotonicMs();
  const list = groups.get(command.group) ?? [];
  groups.set(command.group, list);
  // Small batches: a burst of connects overflows the listen backlog, and SYN retries cost seconds.
  const batch = 100;
  for (let i = 0; i < command.n; i += batch) {
    const path = command.path.replace('{token}', encodeStreamingToken(command.secret, Date.now(), 17));
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, command.n - i) }, (_, k) =>
        openOne(command.port, path, command.sync === 'none' ? undefined : firstSync(command.sync, command.first + i + k)),
      ),
    );
    list.push(...opened);
  }
  return { opened: list.length, ms: monotonicMs() - start };
}

async function collect(group: string, timeoutMs: number): Promise<{ arrivals: number[]; missing: number; closed: number; sample?: string }> {
  const list = groups.get(group) ?? [];
  const end = monotonicMs() + timeoutMs;
  // Arrivals are stamped as they happen; this only waits for the last one.
  while (list.some((c) => c.arrivedAt === 0 && !c.closed) && monotonicMs() < end) await new Promise((resolve) => setTimeout(resolve, 20));
  const arrivals = list.filter((c) => c.arrivedAt > 0).map((c) => c.arrivedAt);
  const sample = list.find((c) => c.kept)?.kept?.toString();
  return { arrivals, missing: list.length - arrivals.length, closed: list.filter((c) => c.closed).length, ...(sample === undefined ? {} : { sample }) };
}

process.on('message', (message: Command) => {
  void (async () => {
    if (message.cmd === 'open') process.send?.(await open(message));
    else if (message.cmd === 'arm') {
      const list = groups.get(message.group) ?? [];
      list.forEach((c, i) => {
        c.armed = true;
        c.arrivedAt = 0;
        c.kept = undefined;
        c.keep = message.keepFirst && i === 0;
      });
      process.send?.({});
    } else if (message.cmd === 'collect') process.send?.(await collect(message.group, message.timeoutMs));
    else {
      for (const c of groups.get(message.group) ?? []) c.socket.destroy();
      groups.delete(message.group);
      process.send?.({});
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
// The benchmark that started this process is gone (crashed, or killed by a timeout).
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
