import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { closeSilentConnections } from '../../../src/common/silent-connections.js';

/** Sends `request` on a fresh connection; resolves with the answer's head, or '' if none came within `ms`. */
function exchange(port: number, request: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let received = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(done, ms);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) done();
    });
  });
}

describe('closeSilentConnections', () => {
  it('adds no upgrade listener: with none left (the streaming adapter gone at shutdown) an upgrade is answered as a request, not held', async () => {
    const server: Server = createServer((_request, response) => response.end('plain'));
    closeSilentConnections(server, 10_000);
    // An upgrade listener here made node hand every upgrade to it, and it only cleared a timer:
    // after the adapter removed its own, an SDK reconnecting during the drain held the HTTP
    // server's close open until the process's last-resort exit.
    assert.equal(server.listenerCount('upgrade'), 0);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const answer = await exchange(port, 'GET /streaming HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 5000);
    assert.match(answer, /^HTTP\/1\.1 200 /);
    server.close();
    await once(server, 'close');
  });
});
