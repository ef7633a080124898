import { WebSocket } from 'ws';
import { encodeStreamingToken } from '../../src/credentials/streaming-token.js';

export interface Received {
  messageType: string;
  data: Record<string, unknown>;
}

/** A token as the SDKs build it (protocol §1.4). */
export function tokenFor(secret: string, at = Date.now(), start = 17): string {
  return encodeStreamingToken(secret, at, start);
}

/** A raw WebSocket SDK connection whose messages can be awaited in order. */
export class SdkSocket {
  private readonly inbox: Received[] = [];
  private readonly waiters: ((message: Received) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  private constructor(readonly socket: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('message', (raw: Buffer, isBinary: boolean) => {
      if (isBinary) throw new Error('agent sent a binary frame');
      const message = JSON.parse(raw.toString()) as Received;
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
  }

  static open(wsUrl: string, query: string): SdkSocket {
    return new SdkSocket(new WebSocket(`${wsUrl}/streaming?${query}`, { perMessageDeflate: false }));
  }

  static forSecret(wsUrl: string, type: 'server' | 'client', secret: string): SdkSocket {
    return SdkSocket.open(wsUrl, `type=${type}&token=${tokenFor(secret)}`);
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message, failing after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Received> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (message: Received): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves true if no message arrives within `ms` (to check that nothing was sent). */
  async silentFor(ms: number): Promise<boolean> {
    if (this.inbox.length > 0) return false;
    return new Promise((resolve) => {
      const waiter = (message: Received): void => {
        clearTimeout(timer);
        this.inbox.unshift(message);
        resolve(false);
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(true);
      }, ms);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.socket.close();
  }
}
