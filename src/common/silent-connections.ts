import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Closes connections that send nothing for `ms` before their first request or WebSocket upgrade
 * (HTTP_FIRST_REQUEST_TIMEOUT_SECONDS). Node's `headersTimeout` only starts with a request's first
 * byte, so a connection opened and left silent held a descriptor for good: one client opening a
 * few thousand of them left none for SDKs, probes, Redis or SQLite (new connections were refused
 * until it let go). The timeout is node's socket inactivity timeout, whose expiry on a connection
 * without a request destroys it; it is cleared when the first request or upgrade arrives, after
 * which node's keep-alive timeout (or ws, for an upgraded socket) governs idling.
 */
export function closeSilentConnections(server: Server, ms: number): void {
  if (ms <= 0) return;
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(ms);
  });
  server.on('request', (request: IncomingMessage) => {
    // Only the first request finds the timeout armed; node rearms its keep-alive timeout itself.
    if (request.socket.timeout === ms) request.socket.setTimeout(0);
  });
  server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => {
    (socket as Socket).setTimeout(0);
  });
}
