import { setImmediate as nextTurn } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Connection } from './connection-registry.js';

/** Sockets written per turn of the event loop, so HTTP requests get through between chunks. */
export const FAN_OUT_CHUNK = 1000;

const TEXT = { binary: false } as const;

/**
 * Sends one frame; never throws. Returns false when the socket could not take it. A socket with
 * more than `maxBuffered` unsent bytes (WS_MAX_BUFFERED_BYTES) is too slow to keep: it is dropped,
 * not waited for, so what one socket holds is bounded by `maxBuffered` plus one message.
 */
export function sendText(socket: WebSocket, data: string | Buffer, maxBuffered: number): boolean {
  if (socket.readyState !== WebSocket.OPEN) return false;
  if (socket.bufferedAmount > maxBuffered) {
    socket.terminate();
    return false;
  }
  try {
    socket.send(data, TEXT);
    return true;
  } catch {
    socket.terminate();
    return false;
  }
}

/**
 * Sends to many connections, yielding to the event loop every FAN_OUT_CHUNK sockets. `payload`
 * returns the frame for one connection (or null to skip it); one failure never stops the rest.
 */
export async function fanOut(
  targets: Iterable<Connection>,
  payload: (connection: Connection) => string | Buffer | null,
  onError: (connection: Connection, error: unknown) => void,
  maxBuffered: number,
): Promise<number> {
  let sent = 0;
  let inChunk = 0;
  // Copy first: connections may come and go while this yields.
  for (const connection of [...targets]) {
    try {
      const data = payload(connection);
      if (data !== null && sendText(connection.socket, data, maxBuffered)) sent++;
    } catch (error) {
      onError(connection, error);
    }
    if (++inChunk >= FAN_OUT_CHUNK) {
      inChunk = 0;
      await nextTurn();
    }
  }
  return sent;
}
