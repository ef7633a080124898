import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes connections that send nothing for `ms` before their first request or WebSocket upgrade
 * (HTTP_FIRST_REQUEST_TIMEOUT_SECONDS). Node's `headersTimeout` only starts with a request's first
 * byte, so a connection opened and left silent held a descriptor for good: one client opening a
 * few thousand of them left none for SDKs, probes, Redis or SQLite (new connections were refused
 * until it let go). The timeout is node's socket inactivity timeout, whose expiry on a connection
 * without a request destroys it; it is cleared when the first request arrives, after which node's
 * keep-alive timeout governs idling. An upgraded socket needs nothing from here: node drops its
 * own timeout listener on upgrade and ws clears the timeout when it takes the socket. (No
 * `upgrade` listener is added: node hands an upgrade to whoever listens, so one left here after
 * the streaming adapter removed its own at shutdown took reconnecting SDKs' sockets and never
 * answered them, and the HTTP server's close waited for them.)
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
}
