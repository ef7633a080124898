import { errorDetail, type ErrorDetail } from '../common/error-detail.js';
import { Logger } from '@nestjs/common';
import { fullJitterDelay, sleep } from '../common/backoff.js';
import { safeUrl } from '../common/mask.js';
import { ThrottledLog, type InsightBatch, type InsightQueue } from './insight-queue.js';

export interface ForwarderStats {
  forwarded: number;
  retried: number;
  /**
   * Dropped for good: single events FeatBit refused on their own (a 400-like answer, or too large
   * even alone), and events whose secret this agent, holding data, no longer has.
   */
  rejected: number;
  /** Of `rejected`: events whose secret is not held (revoked, or forged before the first data). */
  unknownSecret: number;
  /** Times a group of events was split in two (FeatBit said too large, or refused it). */
  splits: number;
  /** Acknowledgements that failed and were retried (the batch was not sent again). */
  ackRetries: number;
  /** In-process queue: events neither delivered nor kept when the drain bound ended. */
  lostOnShutdown: number;
}

/** Whether FeatBit takes our insights: `Unhealthy` after a 401/403/404 (a configuration problem). */
export interface ForwarderHealth {
  state: 'Healthy' | 'Unhealthy';
  /** The HTTP status that made it unhealthy. */
  status?: number;
  reason?: string;
  since?: string;
}

export interface ForwarderTimings {
  idleMs: number;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  batchSize: number;
}

/** About the largest request body sent at once (JSON characters): a secret's part of a batch goes in pieces under it. */
export const MAX_POST_BYTES = 4 * 1024 * 1024;

/**
 * Longest wait between attempts to reach the queue (take, acknowledge) while it is unavailable (Redis
 * away or failing over, SQLite busy). Its own backoff, apart from FeatBit's: the queue's client
 * reconnects by itself, and delivery should resume within seconds of it being back, however long
 * it was away.
 */
export const QUEUE_RETRY_CAP_MS = 5000;

export const DEFAULT_FORWARDER_TIMINGS: ForwarderTimings = { idleMs: 1000, timeoutMs: 5000, backoffBaseMs: 500, backoffCapMs: 30_000, batchSize: 500 };

/**
 * How FeatBit's answer is handled. `retry`: keep, back off (network, 408, 429, 5xx). `misconfigured`:
 * keep, back off, and report Unhealthy (401, 403, 404, 405: EVENT_URI or the secret is wrong, not the
 * events). `too-large`: split (413). `refused`: split until the event FeatBit refuses is alone,
 * then drop it (other 4xx).
 */
type Outcome = 'sent' | 'retry' | 'misconfigured' | 'too-large' | 'refused';

export function outcomeOf(status: number): Outcome {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 408 || status === 429 || status >= 500 || status < 200) return 'retry';
  if (status === 401 || status === 403 || status === 404 || status === 405) return 'misconfigured';
  if (status === 413) return 'too-large';
  return 'refused';
}

interface Item {
  index: number;
  body: string;
}

/**
 * Delivers queued insights to `{EVENT_URI}/api/public/insight/track`, one request per secret of a
 * batch, at least once (see `Outcome` for what each answer does). A batch is acknowledged once
 * every event is delivered or dropped; events kept stay queued, first in line. A failed
 * acknowledgement is retried, never the delivery.
 */
export class InsightForwarder {
  private readonly logger = new Logger(InsightForwarder.name);
  private readonly refusedLog = new ThrottledLog(this.logger, 'FeatBit refused an insight on its own; dropped (resending cannot help)');
  private readonly unknownLog = new ThrottledLog(this.logger, 'insights of a secret this agent does not hold; dropped');
  private readonly ackLog = new ThrottledLog(this.logger, 'delivered insights could not be acknowledged; retrying the acknowledgement', 'error');
  private readonly takeLog = new ThrottledLog(this.logger, 'insight queue unavailable', 'warn');
  private readonly url: string;
  /** Aborted when stop() is called: ends idle waits and backoff. */
  private readonly stopping = new AbortController();
  /** Aborted at the drain deadline: ends requests in flight. */
  private readonly hard = new AbortController();
  private deadline = Number.POSITIVE_INFINITY;
  private wake?: () => void;
  private loop?: Promise<void>;
  readonly stats: ForwarderStats = { forwarded: 0, retried: 0, rejected: 0, unknownSecret: 0, splits: 0, ackRetries: 0, lostOnShutdown: 0 };
  private healthState: ForwarderHealth = { state: 'Healthy' };
  private readonly healthListeners: ((health: ForwarderHealth) => void)[] = [];

  constructor(
    private readonly queue: InsightQueue,
    eventUri: URL,
    private readonly timings: ForwarderTimings,
    /** False when the agent holds data and not this secret; undefined when it cannot tell (no data yet). */
    private readonly isHeld: (secret: string) => boolean | undefined = () => undefined,
  ) {
    this.url = `${eventUri.href.replace(/\/+$/, '')}/api/public/insight/track`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  get health(): ForwarderHealth {
    return this.healthState;
  }

  private setHealth(health: ForwarderHealth): void {
    const changed = health.state !== this.healthState.state || health.status !== this.healthState.status;
    this.healthState = health;
    if (changed) for (const listener of this.healthListeners) listener(health);
  }

  onHealth(listener: (health: ForwarderHealth) => void): void {
    this.healthListeners.push(listener);
  }

  /** Something was queued: send soon rather than after the idle wait. */
  nudge(): void {
    this.wake?.();
  }

  /**
   * Shutdown. A request in flight is never aborted before `deadline`. The in-process queue (not
   * durable) keeps delivering until it is empty or the deadline passes; a durable queue stops
   * after the request in flight, its backlog stays persisted.
   */
  async stop(deadline = Date.now() + this.timings.timeoutMs): Promise<void> {
    this.deadline = Math.min(this.deadline, deadline);
    const timer = setTimeout(() => this.hard.abort(), Math.max(0, this.deadline - Date.now()));
    this.stopping.abort();
    this.wake?.();
    try {
      await this.loop;
    } finally {
      clearTimeout(timer);
      this.hard.abort();
    }
  }

  private get finished(): boolean {
    return this.stopping.signal.aborted && (this.queue.durable || Date.now() >= this.deadline);
  }

  private async run(): Promise<void> {
    // Failed deliveries back off up to backoffCapMs; failed takes on their own, up to QUEUE_RETRY_CAP_MS.
    let attempt = 0;
    let takeAttempt = 0;
    while (!this.finished) {
      let batch: InsightBatch | null = null;
      try {
        batch = await this.queue.take(this.timings.batchSize);
        takeAttempt = 0;
      } catch (error) {
        this.takeLog.add(1, { ...errorDetail(error) });
        if (this.stopping.signal.aborted) return;
        await sleep(this.queueRetryDelay(takeAttempt++), this.stopping.signal);
        continue;
      }
      if (!batch) {
        if (this.stopping.signal.aborted) return;
        await this.idle();
        continue;
      }
      if (await this.deliver(batch)) {
        attempt = 0;
        continue;
      }
      const delay = fullJitterDelay(attempt++, this.timings.backoffBaseMs, this.timings.backoffCapMs);
      this.logger.warn({ msg: 'insight forwarding failed; will retry', url: safeUrl(this.url), events: batch.entries.length, ...this.lastFailure, retryInMs: delay });
      if (!this.stopping.signal.aborted) await sleep(delay, this.stopping.signal);
      else if (!this.queue.durable) await sleep(Math.min(delay, this.deadline - Date.now()), this.hard.signal);
    }
  }

  /** True when the whole batch is done with (sent or dropped); false when part of it is kept to retry. */
  /** Why the last delivery attempt failed, for the retry log line. */
  private lastFailure: ErrorDetail = { err: 'unknown' };

  private async deliver(batch: InsightBatch): Promise<boolean> {
    const bySecret = new Map<string, Item[]>();
    batch.entries.forEach((entry, index) => {
      let list = bySecret.get(entry.secret);
      if (!list) bySecret.set(entry.secret, (list = []));
      list.push({ index, body: entry.body });
    });
    const keep = new Set<number>();
    for (const [secret, items] of bySecret) {
      if (this.isHeld(secret) === false) {
        this.stats.rejected += items.length;
        this.stats.unknownSecret += items.length;
        this.unknownLog.add(items.length);
        continue;
      }
      for (const piece of pieces(items)) for (const index of await this.send(secret, piece)) keep.add(index);
    }
    this.stats.retried += keep.size;
    await this.settle(batch, keep);
    return keep.size === 0;
  }

  /** Sends one secret's events; resolves to the indices to keep queued. */
  private async send(secret: string, items: Item[]): Promise<number[]> {
    const status = await this.post(secret, items);
    const outcome = status === null ? 'retry' : outcomeOf(status);
    switch (outcome) {
      case 'sent':
        this.stats.forwarded += items.length;
        if (this.health.state !== 'Healthy') this.logger.log({ msg: 'FeatBit takes insights again' });
        this.setHealth({ state: 'Healthy' });
        return [];
      case 'retry':
        if (status !== null) this.lastFailure = { err: `FeatBit answered ${status}`, statusCode: status };
        return items.map((i) => i.index);
      case 'misconfigured':
        if (this.health.state !== 'Unhealthy' || this.health.status !== status) {
          this.logger.error({ msg: 'FeatBit refuses insights: check EVENT_URI and the environment secrets; events kept queued', url: safeUrl(this.url), status });
        }
        this.setHealth({ state: 'Unhealthy', status: status ?? 0, reason: `FeatBit answered ${status} to insights`, since: this.health.since ?? new Date().toISOString() });
        return items.map((i) => i.index);
      case 'too-large':
      case 'refused': {
        if (items.length === 1) {
          this.stats.rejected++;
          this.refusedLog.add(1, { status });
          return [];
        }
        // Bisect: the halves FeatBit takes go through; the refusal narrows down to single events.
        this.stats.splits++;
        const half = Math.ceil(items.length / 2);
        const first = await this.send(secret, items.slice(0, half));
        const second = await this.send(secret, items.slice(half));
        return [...first, ...second];
      }
    }
  }

  /** The HTTP status, or null when no answer came (network error, timeout, shutdown deadline). */
  private async post(secret: string, items: Item[]): Promise<number | null> {
    if (this.hard.signal.aborted) return null;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { authorization: secret, 'content-type': 'application/json; charset=utf-8', 'user-agent': 'featbit-agent' },
        body: `[${items.map((i) => i.body).join(',')}]`,
        signal: AbortSignal.any([this.hard.signal, AbortSignal.timeout(this.timings.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status;
    } catch (error) {
      // fetch says only "fetch failed"; the cause tells DNS from TLS from a refused connection.
      this.lastFailure = errorDetail(error);
      return null;
    }
  }

  /** Acknowledges the batch, retrying a failed acknowledgement (disk full, I/O error, busy, Redis away) until the deadline. */
  private async settle(batch: InsightBatch, keep: ReadonlySet<number>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (keep.size === batch.entries.length) await this.queue.release(batch);
        else await this.queue.ack(batch, keep.size > 0 ? keep : undefined);
        return;
      } catch (error) {
        this.stats.ackRetries++;
        this.ackLog.add(1, { ...errorDetail(error) });
        // At the deadline a durable queue keeps the batch (sent again after a restart: at least once).
        if (this.hard.signal.aborted) return;
        await sleep(this.queueRetryDelay(attempt), this.hard.signal);
      }
    }
  }

  private queueRetryDelay(attempt: number): number {
    return fullJitterDelay(attempt, this.timings.backoffBaseMs, Math.min(this.timings.backoffCapMs, QUEUE_RETRY_CAP_MS));
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.timings.idleMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
      if (this.stopping.signal.aborted) done();
    });
  }
}

/** Consecutive runs of items whose JSON array stays under MAX_POST_BYTES (an item larger alone is a run of its own). */
function pieces(items: Item[]): Item[][] {
  const runs: Item[][] = [];
  let run: Item[] = [];
  let bytes = 2;
  for (const item of items) {
    const size = item.body.length + 1;
    if (run.length > 0 && bytes + size > MAX_POST_BYTES) {
      runs.push(run);
      run = [];
      bytes = 2;
    }
    run.push(item);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
