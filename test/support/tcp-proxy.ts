import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in the test process between one agent and a server (Redis, FeatBit): `cut()`
 * partitions that agent (every connection is closed and new ones are closed at once), `heal()`
 * lets connections through again. With `replyDelayMs`, what the server sends reaches the client
 * that much later (a slow or distant server, a loaded machine).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private broken = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1', options: { replyDelayMs?: number } = {}): Promise<TcpProxy> {
    const delayMs = options.replyDelayMs ?? 0;
    const holder: { proxy?: TcpProxy } = {};
    const server = createServer((client) => {
      const proxy = holder.proxy;
      if (!proxy || proxy.broken) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, targetHost);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        proxy.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy.sockets.delete(a);
          // The server's last words are still on their way to the client.
          if (a === upstream && delayMs > 0) setTimeout(() => b.destroy(), delayMs);
          else b.destroy();
        });
      }
      client.pipe(upstream);
      if (delayMs > 0) upstream.on('data', (chunk: Buffer) => setTimeout(() => client.destroyed || client.write(chunk), delayMs));
      else upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    return holder.proxy;
  }

  cut(): void {
    this.broken = true;
    for (const socket of this.sockets) socket.destroy();
  }

  heal(): void {
    this.broken = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
