import { Logger } from '@nestjs/common';
import { fullJitterDelay, sleep } from '../common/backoff.js';
import { safeUrl } from '../common/mask.js';
import type { InsightBatch, InsightQueue, QueuedInsight } from './insight-queue.js';

export interface ForwarderStats {
  forwarded: number;
  retried: number;
  /** Dropped because FeatBit refused them for good (4xx other than 429). */
  rejected: number;
}

export interface ForwarderTimings {
  idleMs: number;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  batchSize: number;
}

export const DEFAULT_FORWARDER_TIMINGS: ForwarderTimings = { idleMs: 1000, timeoutMs: 5000, backoffBaseMs: 500, backoffCapMs: 30_000, batchSize: 500 };

type Outcome = 'sent' | 'retry' | 'rejected';

/**
 * Delivers queued insights to `{EVENT_URI}/api/public/insight/track`, one request per secret of a
 * batch, at least once: network errors, 5xx and 429 leave the batch queued and back off (capped
 * exponential, full jitter); any other 4xx drops that secret's part, logged and counted.
 */
export class InsightForwarder {
  private readonly logger = new Logger(InsightForwarder.name);
  private readonly url: string;
  private readonly stopping = new AbortController();
  private wake?: () => void;
  private loop?: Promise<void>;
  readonly stats: ForwarderStats = { forwarded: 0, retried: 0, rejected: 0 };

  constructor(
    private readonly queue: InsightQueue,
    eventUri: URL,
    private readonly timings: ForwarderTimings,
  ) {
    this.url = `${eventUri.href.replace(/\/+$/, '')}/api/public/insight/track`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Something was queued: send soon rather than after the idle wait. */
  nudge(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping.signal.aborted) {
      let batch: InsightBatch | null = null;
      try {
        batch = await this.queue.take(this.timings.batchSize);
      } catch (error) {
        this.logger.warn({ msg: 'insight queue unavailable', err: String(error) });
      }
      if (!batch) {
        await this.idle();
        continue;
      }
      if (await this.deliver(batch)) {
        attempt = 0;
        continue;
      }
      this.stats.retried += batch.entries.length;
      const delay = fullJitterDelay(attempt++, this.timings.backoffBaseMs, this.timings.backoffCapMs);
      this.logger.warn({ msg: 'insight forwarding failed; will retry', url: safeUrl(this.url), events: batch.entries.length, retryInMs: delay });
      await sleep(delay, this.stopping.signal);
    }
  }

  /** True when the batch is done with (sent or dropped); false to retry it. */
  private async deliver(batch: InsightBatch): Promise<boolean> {
    const bySecret = new Map<string, Record<string, unknown>[]>();
    for (const entry of batch.entries) {
      let list = bySecret.get(entry.secret);
      if (!list) bySecret.set(entry.secret, (list = []));
      list.push(entry.insight);
    }
    const retry: QueuedInsight[] = [];
    for (const [secret, insights] of bySecret) {
      const outcome = await this.post(secret, insights);
      if (outcome === 'sent') this.stats.forwarded += insights.length;
      else if (outcome === 'rejected') this.stats.rejected += insights.length;
      else for (const insight of insights) retry.push({ secret, insight });
    }
    if (retry.length === 0) {
      await this.queue.ack(batch);
      return true;
    }
    if (retry.length === batch.entries.length) {
      await this.queue.release(batch);
      return false;
    }
    // Part went through: requeue only the rest.
    await this.queue.ack(batch);
    this.queue.push(retry);
    return false;
  }

  private async post(secret: string, insights: Record<string, unknown>[]): Promise<Outcome> {
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { authorization: secret, 'content-type': 'application/json; charset=utf-8', 'user-agent': 'featbit-agent' },
        body: JSON.stringify(insights),
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.timings.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return 'sent';
      if (response.status === 429 || response.status >= 500) return 'retry';
      this.logger.error({ msg: 'FeatBit refused insights; dropped (resending cannot help)', status: response.status, events: insights.length });
      return 'rejected';
    } catch {
      return 'retry';
    }
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
