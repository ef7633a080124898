import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';

/** Streams are closed after this long without an event; EventSource clients reconnect if still interested. */
export const INACTIVITY_DELAY_SEC = 300;
const KEEP_ALIVE_MS = 25_000;
const TOKEN_TTL_MS = 24 * 60 * 60_000;

interface Stream {
  envId: string;
  response: ServerResponse;
  idle: NodeJS.Timeout;
}

/**
 * OFREP change events (ADR-0008): a server-sent-events stream per client that carries only
 * notifications (`refetchEvaluation` with the environment's new etag). The stream URL holds an
 * opaque token, never a secret, so access logs and proxies never see credentials.
 */
@Injectable()
export class OfrepEventsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(OfrepEventsService.name);
  private readonly tokens = new Map<string, { envId: string; expires: number }>();
  private readonly streams = new Set<Stream>();
  private keepAlive?: NodeJS.Timeout;
  private unsubscribe?: () => void;

  constructor(@Inject(FLAG_STORE) private readonly store: FlagStore) {}

  onModuleInit(): void {
    this.unsubscribe = this.store.onChange((change) => {
      for (const env of change.envs) this.notify(env.envId);
    });
    this.keepAlive = setInterval(() => {
      for (const stream of this.streams) stream.response.write(': keep-alive\n\n');
      const now = Date.now();
      for (const [token, entry] of this.tokens) if (entry.expires < now) this.tokens.delete(token);
    }, KEEP_ALIVE_MS);
    this.keepAlive.unref();
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
    clearInterval(this.keepAlive);
    for (const stream of this.streams) this.close(stream);
  }

  /** A stream token for an authenticated environment (reused while valid). */
  tokenFor(envId: string): string {
    for (const [token, entry] of this.tokens) {
      if (entry.envId === envId && entry.expires - Date.now() > TOKEN_TTL_MS / 2) return token;
    }
    const token = randomBytes(18).toString('base64url');
    this.tokens.set(token, { envId, expires: Date.now() + TOKEN_TTL_MS });
    return token;
  }

  envOf(token: string | undefined): string | undefined {
    const entry = token ? this.tokens.get(token) : undefined;
    return entry && entry.expires > Date.now() ? entry.envId : undefined;
  }

  /** The environment's data version as an etag: it changes with every change of the env. */
  envEtag(envId: string): string {
    const env = this.store.data.env(envId);
    return `"${env?.version ?? 0}-${env?.generation ?? 0}"`;
  }

  open(envId: string, response: ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'access-control-allow-origin': '*',
      'x-accel-buffering': 'no',
    });
    response.write(': connected\n\n');
    const stream: Stream = { envId, response, idle: this.idleTimer(response) };
    this.streams.add(stream);
    response.on('close', () => {
      clearTimeout(stream.idle);
      this.streams.delete(stream);
    });
  }

  private idleTimer(response: ServerResponse): NodeJS.Timeout {
    return setTimeout(() => response.end(), INACTIVITY_DELAY_SEC * 1000);
  }

  private notify(envId: string): void {
    const message = `data: ${JSON.stringify({ type: 'refetchEvaluation', etag: this.envEtag(envId) })}\n\n`;
    for (const stream of this.streams) {
      if (stream.envId !== envId) continue;
      stream.response.write(message);
      clearTimeout(stream.idle);
      stream.idle = this.idleTimer(stream.response);
    }
  }

  private close(stream: Stream): void {
    clearTimeout(stream.idle);
    stream.response.end();
    this.streams.delete(stream);
  }

  get size(): number {
    return this.streams.size;
  }
}
