import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A fake FeatBit evaluation server speaking the upstream side of the agent protocol (protocol.md
 * §3.4, §6) over real sockets: registration, the relay-proxy WebSocket with rp_full, rp_patch and
 * live patches, pong, status capture and insight intake. Used by tests and `npm run fake-featbit`.
 */

type Json = Record<string, unknown>;

export interface BootstrapLike {
  items: { envId: string; secrets?: Json[]; featureFlags: Json[]; segments: Json[] }[];
}

interface EnvState {
  envId: string;
  secrets: Json[];
  flags: Map<string, Json>;
  segments: Map<string, Json>;
}

export interface StatusReport {
  agentId: string;
  status: Json;
  raw: string;
  at: number;
}

export interface InsightRecord {
  authorization: string | undefined;
  body: unknown;
  at: number;
}

/** Answers one insight request: a status (undefined or 200 accepts), possibly after a while. */
export type InsightResponder = (request: { authorization: string; body: unknown; bytes: number }) => number | undefined | Promise<number | undefined>;

export interface FakeFeatBitOptions {
  port?: number;
  relayProxyKey?: string;
  data?: BootstrapLike;
  registerStatus?: number;
}

export const DEFAULT_RELAY_PROXY_KEY = 'rp-MzIxMDA2NTIyNzY3MQG558Sj8tWkuMbX6PmgscLQ';

function ms(value: unknown): number {
  return typeof value === 'string' ? Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(value) ? value : `${value}Z`) : 0;
}

export class FakeFeatBitServer extends EventEmitter {
  readonly registrations: { agentId: string; at: number }[] = [];
  readonly statusReports: StatusReport[] = [];
  readonly received: Json[] = [];
  readonly insights: InsightRecord[] = [];
  /** Relay-proxy connections accepted (wrong keys excluded). */
  connections = 0;
  rejectedConnections = 0;
  /** Client-side TCP ports of the relay-proxy connections accepted, in order (to find the agent's socket). */
  readonly agentPorts: number[] = [];
  private readonly envs = new Map<string, EnvState>();
  private readonly sockets = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private server: Server;
  private registerStatus: number;
  private insightStatus = 200;
  private readonly relayProxyKey: string;
  port = 0;

  private constructor(options: FakeFeatBitOptions) {
    super();
    this.relayProxyKey = options.relayProxyKey ?? DEFAULT_RELAY_PROXY_KEY;
    this.registerStatus = options.registerStatus ?? 200;
    if (options.data) this.setData(options.data);
    this.server = this.createHttpServer();
  }

  static async start(options: FakeFeatBitOptions = {}): Promise<FakeFeatBitServer> {
    const fake = new FakeFeatBitServer(options);
    await fake.listen(options.port ?? 0);
    return fake;
  }

  /** Relay-proxy sockets open right now. */
  get openSockets(): number {
    return this.sockets.size;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get streamingUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  // ---- lifecycle ----

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  /** An outage: closes every socket (1000, as a graceful ELS shutdown does) and stops listening. */
  async pause(code = 1000): Promise<void> {
    this.closeAllSockets(code, 'server shutting down');
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  /** Back on the same port. */
  async resume(): Promise<void> {
    this.server = this.createHttpServer();
    await this.listen(this.port);
  }

  async stop(): Promise<void> {
    this.closeAllSockets(1001, 'stopping');
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  closeAllSockets(code: number, reason = ''): void {
    for (const socket of this.sockets) socket.close(code, reason);
  }

  setRegisterResponse(status: number): void {
    this.registerStatus = status;
  }

  setInsightStatus(status: number): void {
    this.insightStatus = status;
  }

  /** Insight requests that reached the body check (answered 200 or by the responder). */
  insightRequests = 0;
  private insightResponder?: InsightResponder;

  /** Decides the status of each insight request (undefined or 200: accept), e.g. 413 past a size or 400 for one event. */
  setInsightResponder(responder?: InsightResponder): void {
    this.insightResponder = responder;
  }

  /** Resolves with the next event of `name` whose payload passes `accept`. */
  waitFor<T = unknown>(name: string, accept: (value: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(name, listener);
        reject(new Error(`fake FeatBit: no ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (value: T): void => {
        if (!accept(value)) return;
        clearTimeout(timer);
        this.off(name, listener);
        resolve(value);
      };
      this.on(name, listener);
    });
  }

  // ---- data ----

  setData(data: BootstrapLike): void {
    this.envs.clear();
    for (const item of data.items) {
      this.envs.set(item.envId, {
        envId: item.envId,
        secrets: [...(item.secrets ?? [])],
        flags: new Map(item.featureFlags.map((f) => [String(f['id']), f])),
        segments: new Map(item.segments.map((s) => [String(s['id']), s])),
      });
    }
  }

  flag(envId: string, key: string): Json | undefined {
    return [...(this.envs.get(envId)?.flags.values() ?? [])].find((f) => f['key'] === key);
  }

  /** Stores a flag (updatedAt now unless given) and, unless silent, pushes it as a live patch. */
  upsertFlag(envId: string, flag: Json, options: { silent?: boolean } = {}): Json {
    const stored: Json = { ...flag, envId, updatedAt: flag['updatedAt'] ?? new Date().toISOString() };
    this.env(envId).flags.set(String(stored['id']), stored);
    if (!options.silent) this.broadcast({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: [stored], segments: [] } });
    return stored;
  }

  upsertSegment(envId: string, segment: Json, options: { silent?: boolean } = {}): Json {
    const stored: Json = { ...segment, envId, updatedAt: segment['updatedAt'] ?? new Date().toISOString() };
    this.env(envId).segments.set(String(stored['id']), stored);
    if (!options.silent) this.broadcast({ messageType: 'data-sync', data: { eventType: 'patch', featureFlags: [], segments: [stored] } });
    return stored;
  }

  /** Deletes without telling anyone: the protocol has no delete message (§6.6). */
  deleteFlag(envId: string, key: string): void {
    const env = this.env(envId);
    for (const [id, flag] of env.flags) if (flag['key'] === key) env.flags.delete(id);
  }

  private env(envId: string): EnvState {
    let env = this.envs.get(envId);
    if (!env) {
      env = { envId, secrets: [], flags: new Map(), segments: new Map() };
      this.envs.set(envId, env);
    }
    return env;
  }

  /** Sends any message, as is, on every relay-proxy socket (e.g. a patch with an invalid item). */
  sendToAgents(message: Json): void {
    this.broadcast(message);
  }

  private broadcast(message: Json): void {
    const text = JSON.stringify(message);
    for (const socket of this.sockets) if (socket.readyState === socket.OPEN) socket.send(text);
  }

  // ---- HTTP ----

  private createHttpServer(): Server {
    const server = createServer((request, response) => void this.handleHttp(request, response));
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(request, socket, head));
    return server;
  }

  private async readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private async handleHttp(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const body = await this.readBody(request);
    if (request.method === 'POST' && path.endsWith('/api/public/agent/register')) {
      if (request.headers.authorization !== this.relayProxyKey || !this.relayProxyKey.startsWith('rp-')) return this.reply(response, 401, 'unauthorized');
      if (this.registerStatus !== 200) return this.reply(response, this.registerStatus, 'refused');
      let agentId = '';
      try {
        agentId = String(JSON.parse(body));
      } catch {
        return this.reply(response, 400, 'bad body');
      }
      this.registrations.push({ agentId, at: Date.now() });
      this.emit('registration', agentId);
      return this.reply(response, 200, agentId);
    }
    if (request.method === 'POST' && path.endsWith('/api/public/insight/track')) {
      const authorization = request.headers.authorization;
      if (typeof authorization !== 'string' || authorization.length !== 44) return this.reply(response, 401, 'unauthorized');
      if (this.insightStatus !== 200) return this.reply(response, this.insightStatus, 'unavailable');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return this.reply(response, 400, 'bad body');
      }
      this.insightRequests++;
      const answer = await this.insightResponder?.({ authorization, body: parsed, bytes: Buffer.byteLength(body) });
      if (answer !== undefined && answer !== 200) return this.reply(response, answer, 'refused');
      const record = { authorization, body: parsed, at: Date.now() };
      this.insights.push(record);
      this.emit('insight', record);
      return this.reply(response, 200, '');
    }
    this.reply(response, 404, 'not found');
  }

  private reply(response: ServerResponse, status: number, text: string): void {
    response.writeHead(status, { 'content-type': 'text/plain' });
    response.end(text);
  }

  // ---- relay-proxy WebSocket (§6.4) ----

  private handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '', 'ws://fake');
    if (!url.pathname.endsWith('/streaming')) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      if (url.searchParams.get('type') !== 'relay-proxy' || url.searchParams.get('token') !== this.relayProxyKey) {
        this.rejectedConnections++;
        this.emit('rejected');
        ws.close(4003, 'invalid request, close by server');
        return;
      }
      this.connections++;
      if (request.socket.remotePort !== undefined) this.agentPorts.push(request.socket.remotePort);
      this.sockets.add(ws);
      ws.on('close', () => {
        this.sockets.delete(ws);
        this.emit('disconnect');
      });
      ws.on('message', (raw: Buffer) => this.handleMessage(ws, raw.toString('utf8')));
      this.emit('connection');
    });
  }

  private handleMessage(ws: WebSocket, text: string): void {
    let message: Json;
    try {
      message = JSON.parse(text) as Json;
    } catch {
      return;
    }
    this.received.push(message);
    const data = (message['data'] ?? {}) as Json;
    switch (message['messageType']) {
      case 'ping':
        ws.send('{"messageType":"pong","data":{}}');
        return;
      case 'data-sync': {
        this.emit('data-sync-request', data);
        const timestamp = typeof data['timestamp'] === 'number' ? data['timestamp'] : 0;
        ws.send(JSON.stringify(timestamp === 0 ? this.fullMessage() : this.patchMessage(data)));
        return;
      }
      case 'rp-agent-status': {
        const raw = String(data['status']);
        const report = { agentId: String(data['agentId']), status: JSON.parse(raw) as Json, raw, at: Date.now() };
        this.statusReports.push(report);
        this.emit('status', report);
        return;
      }
      default:
        return;
    }
  }

  private fullMessage(): Json {
    const items = [...this.envs.values()]
      .filter((env) => env.secrets.length > 0)
      .map((env) => ({ envId: env.envId, secrets: env.secrets, featureFlags: [...env.flags.values()], segments: [...env.segments.values()] }));
    return { messageType: 'data-sync', data: { eventType: 'rp_full', items } };
  }

  private patchMessage(request: Json): Json {
    const since = new Map<string, number>();
    for (const entry of Array.isArray(request['envs']) ? (request['envs'] as Json[]) : []) since.set(String(entry['envId']), Number(entry['timestamp']));
    const items = [...this.envs.values()]
      .filter((env) => env.secrets.length > 0)
      .map((env) => {
        const after = since.get(env.envId) ?? -1;
        return {
          envId: env.envId,
          secrets: [],
          featureFlags: [...env.flags.values()].filter((f) => ms(f['updatedAt']) > after),
          segments: [...env.segments.values()].filter((s) => ms(s['updatedAt']) > after),
        };
      });
    return { messageType: 'data-sync', data: { eventType: 'rp_patch', items } };
  }
}
