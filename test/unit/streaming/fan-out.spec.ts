import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws';
import { SharedFrame, sendText } from '../../../src/streaming/fan-out.js';

const LIMIT = 8 * 1024 * 1024;

/** A real ws server with `n` real clients on loopback; resolves the server-side sockets. */
async function pairs(n: number, options: ServerOptions, clientDeflate: boolean) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const serverSide: WebSocket[] = [];
  server.on('connection', (socket) => serverSide.push(socket));
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: clientDeflate });
      await once(client, 'open');
      return client;
    }),
  );
  while (serverSide.length < n) await once(server, 'connection');
  return { server, clients, serverSide };
}

function receive(client: WebSocket, count: number): Promise<{ text: string; binary: boolean }[]> {
  const got: { text: string; binary: boolean }[] = [];
  return new Promise((resolve) => {
    client.on('message', (data: Buffer, binary: boolean) => {
      got.push({ text: data.toString('utf8'), binary });
      if (got.length === count) resolve(got);
    });
  });
}

describe(SharedFrame.name, () => {
  const closers: (() => void)[] = [];
  after(() => {
    for (const close of closers) close();
  });

  // Lengths on both sides of the 7-bit, 16-bit and 64-bit length encodings; multi-byte text.
  const texts = ['', 'a', 'é'.repeat(62), 'x'.repeat(125), 'y'.repeat(126), 'ü'.repeat(40_000), 'z'.repeat(65_535), '{"k":"' + 'w'.repeat(70_000) + '"}'];

  for (const [name, options, clientDeflate] of [
    ['without compression (written as prepared bytes)', { perMessageDeflate: false }, false],
    ['with permessage-deflate negotiated (ws compresses)', { perMessageDeflate: { threshold: 0 } }, true],
  ] as const) {
    it(`delivers the same text messages to every socket, in order with other sends, ${name}`, async () => {
      const { server, clients, serverSide } = await pairs(3, options, clientDeflate);
      closers.push(() => {
        for (const c of clients) c.terminate();
        server.close();
      });
      const expected = texts.flatMap((t) => [t, `after ${t.length}`]);
      const inboxes = clients.map((c) => receive(c, expected.length));
      for (const text of texts) {
        const frame = new SharedFrame(text);
        for (const socket of serverSide) {
          assert.equal(sendText(socket, frame, LIMIT), true);
          socket.send(`after ${text.length}`);
        }
      }
      for (const inbox of inboxes) {
        const got = await inbox;
        assert.deepEqual(got.map((m) => m.text), expected);
        assert.ok(got.every((m) => !m.binary));
      }
    });
  }

  it('writes the one prepared buffer to each socket when nothing is compressed', async () => {
    const { server, clients, serverSide } = await pairs(2, { perMessageDeflate: false }, false);
    closers.push(() => {
      for (const c of clients) c.terminate();
      server.close();
    });
    const frame = new SharedFrame('{"messageType":"data-sync","data":{}}');
    const written: unknown[] = [];
    for (const socket of serverSide) {
      const stream = (socket as unknown as { _socket: { write(chunk: unknown): boolean } })._socket;
      const write = stream.write.bind(stream);
      stream.write = (chunk: unknown) => {
        written.push(chunk);
        return write(chunk);
      };
    }
    const inboxes = clients.map((c) => receive(c, 1));
    for (const socket of serverSide) sendText(socket, frame, LIMIT);
    assert.deepEqual(written, [frame.framed, frame.framed]);
    assert.equal(written[0], written[1]);
    for (const inbox of inboxes) assert.equal((await inbox)[0]?.text, '{"messageType":"data-sync","data":{}}');
  });

  it('drops a socket over the buffered bound instead of writing to it', async () => {
    const { server, clients, serverSide } = await pairs(1, { perMessageDeflate: false }, false);
    closers.push(() => server.close());
    const socket = serverSide[0];
    assert.ok(socket);
    const closed = once(clients[0] as WebSocket, 'close');
    // Never read on the client: fill the kernel buffers, then the bound trips.
    (clients[0] as unknown as { _socket: { pause(): void } })._socket.pause();
    const frame = new SharedFrame('p'.repeat(256 * 1024));
    let writes = 0;
    while (sendText(socket, frame, 1024 * 1024)) writes++;
    assert.ok(writes > 0);
    assert.notEqual(socket.readyState, WebSocket.OPEN);
    (clients[0] as unknown as { _socket: { resume(): void } })._socket.resume();
    await closed;
  });
});
