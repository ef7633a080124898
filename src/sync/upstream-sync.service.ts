import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { WebSocket } from 'ws';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentModeConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { SOLE_LEADER } from '../store/leadership.js';
import { SyncStatusService } from '../status/sync-status.service.js';
import { AgentStatusService } from '../status/agent-status.service.js';
import { fullJitterDelay, sleep } from '../common/backoff.js';
import { errorDetail, type ErrorDetail } from '../common/error-detail.js';
import { maskSecret, safeUrl } from '../common/mask.js';
import { CloseCode } from '../streaming/protocol.js';
import {
  UPSTREAM_PING,
  dataSyncRequest,
  httpBaseOf,
  parseUpstreamMessage,
  relayProxySocketUrl,
  statusMessage,
  upstreamSocketOptions,
  type SkippedItem,
} from './upstream-protocol.js';

/** Skipped items named in one log line; the count covers the rest. */
const SKIPPED_LOGGED = 20;

/** Timings (protocol §6.3, §6.7, §6.9); overridable for tests. */
export interface UpstreamTimings {
  pingMs: number;
  /** Reconnect when nothing arrived for this long. */
  deadAfterMs: number;
  statusMs: number;
  connectTimeoutMs: number;
  registerTimeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Retry interval after 401/403 on registration. */
  slowRetryMs: number;
}

export const DEFAULT_TIMINGS: UpstreamTimings = {
  pingMs: 15_000,
  deadAfterMs: 35_000,
  statusMs: 60_000,
  connectTimeoutMs: 10_000,
  registerTimeoutMs: 10_000,
  backoffBaseMs: 1_000,
  backoffCapMs: 30_000,
  slowRetryMs: 300_000,
};

export const UPSTREAM_TIMINGS = Symbol('UPSTREAM_TIMINGS');

interface ConnectionOutcome {
  code: number;
  reason: string;
  synced: boolean;
  /** The socket's last error (connect refused, TLS, upgrade answered with an HTTP status, …). */
  error?: unknown;
}

/** What handling one upstream message came to. */
type Handled = 'stored' | 'other' | 'failed';

/**
 * Agent mode: registers with the FeatBit evaluation server and keeps one relay-proxy WebSocket
 * to it, forever. The HTTP server does not wait for any of this. Writes only to the store; the
 * gateway pushes what changed.
 */
@Injectable()
export class UpstreamSyncService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(UpstreamSyncService.name);
  private readonly stopping = new AbortController();
  private socket?: WebSocket;
  private registeredId?: string;
  /** The current leadership term's work; absent while following. */
  private run?: { abort: AbortController; loops: Promise<void>[] };
  private unsubscribe: (() => void)[] = [];

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentModeConfig,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly status: SyncStatusService,
    private readonly agentStatus: AgentStatusService,
    @Inject(UPSTREAM_TIMINGS) private readonly timings: UpstreamTimings,
  ) {}

  onApplicationBootstrap(): void {
    this.status.state = 'Starting';
    const leadership = this.store.leadership;
    this.unsubscribe.push(
      leadership.onChange((leader) => (leader ? this.lead() : void this.follow())),
      // Followers receive FeatBit's data through the shared store.
      this.store.onChange(() => {
        if (!this.run) this.status.dataReceived(new Date(), true);
      }),
    );
    if (leadership.isLeader) this.lead();
    else void this.follow();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await this.stopRun();
    this.status.state = 'Stopped';
  }

  /** This process talks to FeatBit: register and keep the relay-proxy connection. */
  private lead(): void {
    if (this.run || this.stopping.signal.aborted) return;
    this.status.role = this.store.leadership === SOLE_LEADER ? 'standalone' : 'leader';
    this.status.registration = 'pending';
    const abort = new AbortController();
    this.stopping.signal.addEventListener('abort', () => abort.abort(), { once: true });
    this.run = { abort, loops: [] };
    this.run.loops = [this.registerLoop(abort.signal), this.connectLoop(abort.signal)];
  }

  /** Another process leads; this one serves what reaches it through the shared store. */
  private async follow(): Promise<void> {
    await this.stopRun();
    this.status.role = 'follower';
    this.status.registration = 'not-needed';
    this.status.problem = null;
    this.status.state = this.store.data.isPopulated ? 'Stable' : 'Starting';
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    run.abort.abort();
    this.socket?.close(CloseCode.Normal, 'agent stepping down');
    this.socket?.terminate();
    await Promise.allSettled(run.loops);
  }

  // ---- registration (protocol §6.3) ----

  private async registerLoop(signal: AbortSignal): Promise<void> {
    const url = `${httpBaseOf(this.config.streamingUri)}/api/public/agent/register`;
    let attempt = 0;
    while (!signal.aborted) {
      let delay = fullJitterDelay(attempt++, this.timings.backoffBaseMs, this.timings.backoffCapMs);
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: this.config.apiKey, 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(this.config.agentId),
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.timings.registerTimeoutMs)]),
        });
        const text = (await response.text()).trim();
        if (response.ok) {
          this.registeredId = text.replace(/^"|"$/g, '') || this.config.agentId;
          this.status.registration = 'registered';
          this.logger.log({ msg: 'registered with FeatBit', agentId: this.registeredId });
          this.sendStatus();
          return;
        }
        if (response.status === 401 || response.status === 403) {
          const licence = response.status === 403;
          this.status.registration = licence ? 'licence-quota' : 'unauthorized';
          this.logger.error({
            msg: licence
              ? 'FeatBit refused registration: no more agents can be registered with the current licence (403); serving continues, retrying slowly'
              : 'FeatBit refused registration: the relay proxy key is wrong (401); retrying slowly',
            apiKey: maskSecret(this.config.apiKey),
          });
          delay = this.timings.slowRetryMs;
        } else {
          this.logger.warn({ msg: 'registration failed, will retry', statusCode: response.status, body: text.slice(0, 200), retryInMs: delay });
        }
      } catch (error) {
        if (signal.aborted) return;
        this.logger.warn({ msg: 'registration failed, will retry', ...errorDetail(error), retryInMs: delay });
      }
      await sleep(delay, signal);
    }
  }

  // ---- relay-proxy connection (protocol §6.4–§6.8) ----

  private async connectLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const outcome = await this.connectOnce();
      if (signal.aborted) return;
      if (outcome.code === CloseCode.InvalidRequest) {
        this.status.state = 'Stopped';
        this.status.problem = 'unauthorized';
        this.logger.error({ msg: 'FeatBit rejected the relay proxy key (4003); upstream sync stopped', apiKey: maskSecret(this.config.apiKey) });
        return;
      }
      if (outcome.synced) attempt = 0;
      this.status.state = 'Interrupted';
      this.status.reconnects++;
      const delay = fullJitterDelay(attempt++, this.timings.backoffBaseMs, this.timings.backoffCapMs);
      const failure: Partial<ErrorDetail> = outcome.error === undefined ? {} : errorDetail(outcome.error);
      // ws closes with 1009 itself; the server's echo may not carry it, the error does.
      if (outcome.code === CloseCode.TooLarge || failure.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.status.problem = 'payload-too-large';
        this.logger.error({
          msg: 'FeatBit sent a message larger than UPSTREAM_MAX_PAYLOAD_MB allows (close 1009); raise it, reconnecting',
          maxPayloadMb: Math.round(this.config.upstreamMaxPayloadBytes / 1024 / 1024),
          ...failure,
          retryInMs: delay,
        });
      } else {
        this.status.problem = 'unreachable';
        this.logger.warn({ msg: 'upstream connection closed, reconnecting', ...failure, closeCode: outcome.code, reason: outcome.reason, retryInMs: delay });
      }
      await sleep(delay, signal);
    }
  }

  private connectOnce(): Promise<ConnectionOutcome> {
    return new Promise((resolve) => {
      const url = relayProxySocketUrl(this.config.streamingUri, this.config.apiKey);
      const socket = new WebSocket(url, upstreamSocketOptions({ connectTimeoutMs: this.timings.connectTimeoutMs, maxPayloadBytes: this.config.upstreamMaxPayloadBytes }));
      this.socket = socket;
      let synced = false;
      let lastReceived = Date.now();
      let lastError: unknown;
      let handling: Promise<void> = Promise.resolve();
      const timers: NodeJS.Timeout[] = [];
      const finish = (code: number, reason: string): void => {
        for (const timer of timers) clearInterval(timer);
        if (this.socket === socket) this.socket = undefined;
        resolve({ code, reason, synced, error: lastError });
      };

      socket.on('open', () => {
        this.logger.log({ msg: 'connected to FeatBit', url: safeUrl(url) });
        socket.send(dataSyncRequest(this.store.data, true));
        timers.push(
          setInterval(() => {
            if (Date.now() - lastReceived > this.timings.deadAfterMs) {
              this.logger.warn({ msg: 'upstream silent for too long; reconnecting', silentMs: Date.now() - lastReceived });
              socket.terminate();
              return;
            }
            if (socket.readyState === WebSocket.OPEN) socket.send(UPSTREAM_PING);
          }, this.timings.pingMs),
          setInterval(() => this.sendStatus(), this.timings.statusMs),
        );
      });
      socket.on('message', (raw: Buffer, isBinary: boolean) => {
        lastReceived = Date.now();
        if (isBinary) return;
        // One message at a time, in arrival order.
        handling = handling.then(async () => {
          const handled = await this.handle(raw.toString('utf8'));
          if (handled === 'stored' && !synced) {
            synced = true;
            this.sendStatus();
          }
          // Nothing else would ask again until the socket closes: reconnect (with backoff) for a fresh rp_full.
          if (handled === 'failed' && socket.readyState === WebSocket.OPEN) socket.close(CloseCode.ServiceUnavailable, 'data-sync could not be handled');
        });
      });
      socket.on('error', (error) => {
        lastError = error;
        this.logger.debug({ msg: 'upstream socket error', ...errorDetail(error) });
      });
      socket.on('close', (code, reason) => finish(code, reason.toString()));
    });
  }

  /** Applies one upstream message. */
  private async handle(text: string): Promise<Handled> {
    try {
      const event = parseUpstreamMessage(text, this.store.data);
      switch (event.kind) {
        case 'full': {
          this.reportSkipped('rp_full', event.skipped);
          const change = await this.store.replaceAll(event.data, { pushAll: false });
          this.logger.log({ msg: 'full data received', envs: event.data.envs.length, changedEnvs: change.envs.length, dataVersion: this.store.data.dataVersion });
          break;
        }
        case 'patch':
          this.reportSkipped('patch', event.skipped);
          await this.store.applyPatch(event.items);
          break;
        case 'pong':
          return 'other';
        case 'ignored':
          this.logger.debug({ msg: 'upstream message ignored', why: event.why });
          return 'other';
      }
      this.status.dataReceived(new Date(), true);
      return 'stored';
    } catch (error) {
      this.status.state = 'Interrupted';
      this.logger.error({ msg: 'upstream message could not be handled; reconnecting to ask again', ...errorDetail(error) });
      return 'failed';
    }
  }

  /** Invalid items were left out of a message whose other items are applied: counted, and logged in one line. */
  private reportSkipped(eventType: string, skipped: SkippedItem[]): void {
    if (skipped.length === 0) return;
    this.status.upstreamItemsSkipped += skipped.length;
    this.logger.warn({
      msg: 'FeatBit sent invalid items: they were skipped and the rest applied',
      eventType,
      skipped: skipped.length,
      items: skipped.slice(0, SKIPPED_LOGGED),
    });
  }

  /** `rp-agent-status` (protocol §6.9); only once registered, dropped while disconnected. */
  private sendStatus(): void {
    const socket = this.socket;
    if (!this.registeredId || !socket || socket.readyState !== WebSocket.OPEN) return;
    const agentId = this.registeredId;
    this.agentStatus
      .upstreamReport()
      .then((status) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(statusMessage(agentId, status));
      })
      .catch((error: unknown) => this.logger.warn({ msg: 'status report failed', ...errorDetail(error) }));
  }
}
