import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import type { BoundCounter, Connection } from './connection-registry.js';

/**
 * Longest a loop over sockets (a fan-out, the heartbeat) holds the event loop before letting other
 * work in (HTTP requests, replies). Yielding by time rather than every N sockets: each yield lets
 * libuv process thousands of write completions before the remaining sockets get the change, which
 * made a 10,000-socket full-payload push 1.2x slower than plain `ws` with a yield per 1,000.
 */
export const FAN_OUT_SLICE_MS = 50;

/** Yields to the event loop once its slice (FAN_OUT_SLICE_MS by default) has passed since the last yield (the clock read every 128 items). */
export class TimeSlice {
  private count = 0;
  private since = performance.now();

  /** `sliceMs`: how long the loop may hold the event loop between yields. */
  constructor(private readonly sliceMs = FAN_OUT_SLICE_MS) {}

  /** undefined while the slice lasts (nothing to await), else a promise of the next turn. */
  next(): Promise<void> | undefined {
    if ((++this.count & 127) !== 0 || performance.now() - this.since < this.sliceMs) return undefined;
    return nextTurn().then(() => {
      this.since = performance.now();
    });
  }
}

const TEXT = { binary: false } as const;

/** ws's frame builder (`Sender.frame`), which its typings do not declare. */
type FrameBuilder = (data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }) => Buffer[];
const frameOf: FrameBuilder = (wsModule as unknown as { Sender: { frame: FrameBuilder } }).Sender.frame;

/** The parts of a ws socket that decide whether a prepared frame may be written directly. */
interface WsInternals {
  _socket?: { write(chunk: Buffer): boolean; _writableState?: { buffered?: unknown[]; bufferedIndex?: number } } | null;
  _sender?: { _state: number; _queue: unknown[] } | null;
  _extensions?: Record<string, unknown>;
}

/**
 * A text message framed once for every socket it goes to: a server frame is never masked, so
 * header and payload are the same bytes for all sockets, and ws would otherwise build a header
 * and write twice per socket.
 */
export class SharedFrame {
  readonly payload: Buffer;
  /** Header and payload in one buffer: one write per socket. */
  readonly framed: Buffer;

  constructor(data: string | Buffer) {
    this.payload = typeof data === 'string' ? Buffer.from(data) : data;
    const parts = frameOf(this.payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false });
    this.framed = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }
}

/**
 * Writes a prepared frame straight to the socket's stream when ws would write exactly those bytes:
 * its sender is idle with nothing queued (ws queues only while compressing or reading a Blob) and
 * permessage-deflate is not in use on this socket (then ws compresses, and its own send is used).
 */
function writeShared(socket: WebSocket, frame: SharedFrame): void {
  const ws = socket as unknown as WsInternals;
  const stream = ws._socket;
  const sender = ws._sender;
  if (!stream || !sender || sender._state !== 0 || sender._queue.length > 0 || ws._extensions?.['permessage-deflate'] !== undefined) {
    socket.send(frame.payload, TEXT);
    return;
  }
  stream.write(frame.framed);
}

/**
 * What Node holds for each write queued on a socket, beyond the write's bytes: the queue entry and,
 * unless the chunk is shared, its Buffer object (measured: 190 to 230 bytes per small message; ws
 * sends a message as two writes). Counted so that small messages cannot make a socket hold several
 * times WS_MAX_BUFFERED_BYTES: with bytes alone, a non-reading socket asking for pongs (36 bytes
 * each) made the agent hold 6.8 times the bound.
 */
export const QUEUED_WRITE_BYTES = 192;

/**
 * The memory a socket's unsent data holds in this process: ws's `bufferedAmount` (bytes queued in
 * Node and in ws) plus QUEUED_WRITE_BYTES per write waiting in the stream's queue.
 */
export function heldBytes(socket: WebSocket): number {
  const state = (socket as unknown as WsInternals)._socket?._writableState;
  const queued = state?.buffered ? state.buffered.length - (state.bufferedIndex ?? 0) : 0;
  return socket.bufferedAmount + queued * QUEUED_WRITE_BYTES;
}

/** A socket holding at most this much unsent data is never dropped by the total budget. */
const OUTBOUND_SMALL_BYTES = 64 * 1024;

/**
 * WS_OUTBOUND_BUDGET_BYTES: the unsent data all sockets together may hold. WS_MAX_BUFFERED_BYTES
 * bounds one socket, so N sockets that ask and never read held N times it: 60 of them at 8 MiB
 * fill a 512 MiB container. The sockets that held data at their last send are kept in a set and
 * their total re-read at most once a millisecond (a socket that has drained leaves the set); in
 * between, each message sent to one of them is added to it.
 */
export class OutboundBudget {
  private readonly holding = new Set<WebSocket>();
  private total = 0;
  private readAt = Number.NEGATIVE_INFINITY;

  /** `limitBytes`: the budget; 0 turns it off. */
  constructor(public limitBytes: number) {}

  /** Whether `socket`, holding `held` bytes of unsent data now, may be sent `bytes` more. */
  allows(socket: WebSocket, held: number, bytes: number): boolean {
    if (held === 0) {
      if (this.holding.size !== 0) this.holding.delete(socket);
      return true;
    }
    if (this.limitBytes <= 0) return true;
    this.holding.add(socket);
    if (held > OUTBOUND_SMALL_BYTES && this.heldByAll() > this.limitBytes) return false;
    this.total += bytes;
    return true;
  }

  /** The unsent data of every socket in the set, as of this millisecond. */
  private heldByAll(): number {
    const now = performance.now();
    if (now - this.readAt < 1) return this.total;
    let total = 0;
    for (const socket of this.holding) {
      const held = socket.readyState === WebSocket.OPEN ? heldBytes(socket) : 0;
      if (held === 0) this.holding.delete(socket);
      else total += held;
    }
    this.total = total;
    this.readAt = now;
    return total;
  }
}

/**
 * Sends one frame; never throws. Returns false when the socket could not take it. A socket holding
 * more than `maxBuffered` bytes of unsent data (WS_MAX_BUFFERED_BYTES, counted by heldBytes) is
 * too slow to keep: it is dropped, not waited for, so what one socket holds is bounded by
 * `maxBuffered` plus one message. So is a socket holding more than 64 KiB while all sockets
 * together hold more than the counter's outbound budget (WS_OUTBOUND_BUDGET_BYTES).
 */
export function sendText(socket: WebSocket, data: string | Buffer | SharedFrame, maxBuffered: number, counter?: BoundCounter): boolean {
  if (socket.readyState !== WebSocket.OPEN) return false;
  const held = heldBytes(socket);
  if (held > maxBuffered) {
    counter?.countBound('slow_consumer');
    socket.terminate();
    return false;
  }
  if (counter?.outbound && !counter.outbound.allows(socket, held, data instanceof SharedFrame ? data.framed.length : data.length)) {
    counter.countBound('outbound_budget');
    socket.terminate();
    return false;
  }
  try {
    if (data instanceof SharedFrame) writeShared(socket, data);
    else socket.send(data, TEXT);
    return true;
  } catch {
    socket.terminate();
    return false;
  }
}

/**
 * Sends to many connections, yielding to the event loop every FAN_OUT_SLICE_MS. `payload`
 * returns the frame for one connection (or null to skip it); one failure never stops the rest.
 */
export async function fanOut(
  targets: Iterable<Connection>,
  payload: (connection: Connection) => string | Buffer | SharedFrame | null,
  onError: (connection: Connection, error: unknown) => void,
  maxBuffered: number,
  counter?: BoundCounter,
): Promise<number> {
  let sent = 0;
  const slice = new TimeSlice();
  // Copy first: connections may come and go while this yields.
  for (const connection of [...targets]) {
    try {
      const data = payload(connection);
      if (data !== null && sendText(connection.socket, data, maxBuffered, counter)) sent++;
    } catch (error) {
      onError(connection, error);
    }
    const turn = slice.next();
    if (turn) await turn;
  }
  return sent;
}
