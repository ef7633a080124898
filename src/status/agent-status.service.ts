import { Inject, Injectable } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore, type StoreHealth } from '../store/flag-store.js';
import { SyncStatusService } from './sync-status.service.js';

/** Protocol §4.1, plus the legacy `type`/`lastSyncAt` (§8.2) and what operators need to see. */
export interface AgentStatus {
  serves: string;
  dataVersion: number;
  syncState: string;
  lastSyncedAt: string | null;
  reportedAt: string;
  type: 'healthy' | 'unhealthy';
  lastSyncAt: string | null;
  /** Why upstream sync is not working, if it is not (`unauthorized`, `unreachable`). */
  upstreamProblem?: string;
  /** Agent mode: `pending`, `registered`, `unauthorized` or `licence-quota`. */
  registration?: string;
  /** Agent mode: `leader` (syncs with FeatBit), `follower` (reads the shared store) or `standalone`. */
  role?: string;
  dataAgeSeconds: number | null;
  storeHealthy: boolean;
  /** `degraded` while the store's backend refuses writes and memory is ahead of it (e.g. disk full). */
  storeState?: 'ok' | 'degraded';
  /** Why, while degraded: `disk-full`, `io-error`, `busy`, `corrupt`, `read-only`, `no-file`, `write-failed`. */
  storeProblem?: string;
  /** Insight forwarding: `Healthy`, `Unhealthy` (FeatBit refuses them as misconfigured; kept queued) or `Off`. */
  insights?: string;
  /** Why insights are `Unhealthy`. */
  insightsProblem?: string;
  /** Shared stores: `ok`, `unreachable` or `timing-out`, and whether this pod's copy may be stale. */
  store?: StoreHealth;
}

@Injectable()
export class AgentStatusService {
  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly sync: SyncStatusService,
  ) {}

  get mode(): AgentConfig['mode'] {
    return this.config.mode;
  }

  get storeType(): string {
    return this.config.store.type;
  }

  /** Invalid items FeatBit sent that were skipped, since start. */
  get upstreamItemsSkipped(): number {
    return this.sync.upstreamItemsSkipped;
  }

  async status(): Promise<AgentStatus> {
    const storeHealthy = await this.store.ping().then(
      () => true,
      () => false,
    );
    const data = this.store.data;
    return {
      serves: data.serves(),
      dataVersion: data.dataVersion,
      syncState: this.config.mode === 'agent' ? this.sync.state : 'None',
      lastSyncedAt: this.sync.lastSyncedAt?.toISOString() ?? null,
      reportedAt: new Date().toISOString(),
      type: storeHealthy && data.isPopulated ? 'healthy' : 'unhealthy',
      lastSyncAt: this.sync.lastDataAt?.toISOString() ?? null,
      ...(this.sync.problem ? { upstreamProblem: this.sync.problem } : {}),
      ...(this.config.mode === 'agent' ? { registration: this.sync.registration, role: this.sync.role } : {}),
      dataAgeSeconds: this.sync.dataAgeSeconds(),
      storeHealthy,
      ...(this.store.persistence ? { storeState: this.store.persistence.state } : {}),
      ...(this.store.persistence?.problem ? { storeProblem: this.store.persistence.problem } : {}),
      insights: this.sync.insights.state,
      ...(this.sync.insights.reason ? { insightsProblem: this.sync.insights.reason } : {}),
      ...(this.store.health ? { store: this.store.health() } : {}),
    };
  }

  /** The JSON string sent upstream in `rp-agent-status` (protocol §6.9): the §4.1 fields only. */
  async upstreamReport(): Promise<string> {
    const s = await this.status();
    return JSON.stringify({
      serves: s.serves,
      dataVersion: s.dataVersion,
      syncState: s.syncState,
      lastSyncedAt: s.lastSyncedAt,
      reportedAt: s.reportedAt,
    });
  }
}
