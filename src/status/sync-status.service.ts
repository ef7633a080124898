import { Injectable } from '@nestjs/common';

/** Synchronizer states, reported exactly as named (protocol §6.10). */
export type SyncState = 'None' | 'Starting' | 'Stable' | 'Interrupted' | 'Stopped';

/** Why the upstream link is not working, when it is not (shown in status and readiness). */
export type UpstreamProblem = 'unauthorized' | 'unreachable' | 'payload-too-large' | null;

/** Registration with FeatBit (protocol §6.3). `licence-quota`: FeatBit answered 403. */
export type RegistrationState = 'not-needed' | 'pending' | 'registered' | 'unauthorized' | 'licence-quota';

/** Where the served data came from and how fresh it is; written by sync and bootstrap. */
@Injectable()
export class SyncStatusService {
  state: SyncState = 'None';
  /** When the last upstream data-sync message was handled (agent mode). */
  lastSyncedAt: Date | null = null;
  /** When data last arrived from anywhere: bootstrap, data file, upstream. */
  lastDataAt: Date | null = null;
  problem: UpstreamProblem = null;
  registration: RegistrationState = 'not-needed';
  /** Agent mode with a shared store: whether this process syncs upstream or follows the one that does. */
  role: 'leader' | 'follower' | 'standalone' = 'standalone';
  /** Upstream connections that closed and were retried (a monotonic total for metrics). */
  reconnects = 0;
  /** Invalid flags, segments and secrets FeatBit sent that were left out (the rest was applied). */
  upstreamItemsSkipped = 0;
  /**
   * Insight forwarding: `Unhealthy` while FeatBit refuses insights as misconfigured (401, 403, 404:
   * EVENT_URI or a secret is wrong; events stay queued), `Off` when nothing is forwarded.
   */
  insights: { state: 'Healthy' | 'Unhealthy' | 'Off'; reason?: string; since?: string } = { state: 'Off' };

  dataReceived(at = new Date(), fromUpstream = false): void {
    this.lastDataAt = at;
    if (fromUpstream) {
      this.lastSyncedAt = at;
      this.state = 'Stable';
      this.problem = null;
    }
  }

  /** Age of the served data in seconds, or null when none arrived yet. */
  dataAgeSeconds(now = Date.now()): number | null {
    return this.lastDataAt ? Math.max(0, Math.round((now - this.lastDataAt.getTime()) / 1000)) : null;
  }
}
