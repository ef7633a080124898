import type { PreparedUser } from './end-user.js';
import {
  clientEntryJson,
  compileFlag,
  compileSegment,
  evaluateFlag,
  type CompiledFlag,
  type CompiledSegment,
  type EvalContext,
  type EvalResult,
} from './evaluator.js';

export interface IndexItem {
  timestamp: number;
  json: Record<string, unknown>;
}

/**
 * One environment's flags and segments compiled for evaluation. Built once per data change of
 * the environment and shared by every client connection of it.
 */
export class EvaluationIndex {
  readonly flags: CompiledFlag[] = [];
  private readonly byKey = new Map<string, CompiledFlag>();
  private readonly segments = new Map<string, CompiledSegment>();
  private readonly bySegment = new Map<string, CompiledFlag[]>();

  constructor(flags: Iterable<IndexItem>, segments: Iterable<IndexItem>) {
    for (const item of segments) {
      const segment = compileSegment(item.json, item.timestamp);
      if (!segment) continue;
      // The most recently updated copy of a segment id wins (evaluation.md §5).
      const held = this.segments.get(segment.id);
      if (!held || held.timestamp <= segment.timestamp) this.segments.set(segment.id, segment);
    }
    for (const item of flags) {
      const flag = compileFlag(item.json, item.timestamp);
      if (!flag) continue;
      this.flags.push(flag);
      this.byKey.set(flag.key, flag);
      for (const id of flag.segmentIds) {
        let list = this.bySegment.get(id);
        if (!list) this.bySegment.set(id, (list = []));
        list.push(flag);
      }
    }
  }

  flag(key: string): CompiledFlag | undefined {
    return this.byKey.get(key);
  }

  segment(id: string): CompiledSegment | undefined {
    return this.segments.get(id);
  }

  /** Flags with a rule condition on one of these segments (protocol §2.9). */
  flagsReferencingSegments(ids: Iterable<string>): CompiledFlag[] {
    const out = new Set<CompiledFlag>();
    for (const id of ids) for (const flag of this.bySegment.get(id) ?? []) out.add(flag);
    return [...out];
  }

  /** A fresh context for one evaluation pass of one user (segment membership memoised). */
  context(): EvalContext {
    const segments = this.segments;
    return { segment: (id) => segments.get(id), memo: new Map() };
  }

  evaluate(flag: CompiledFlag, user: PreparedUser, ctx: EvalContext = this.context()): EvalResult {
    return evaluateFlag(flag, user, ctx);
  }

  /** Client payload entries (protocol §2.8) of `flags` for `user`, joined with commas. */
  entries(flags: Iterable<CompiledFlag>, user: PreparedUser): string {
    const ctx = this.context();
    let out = '';
    for (const flag of flags) {
      const entry = clientEntryJson(flag, evaluateFlag(flag, user, ctx));
      out = out === '' ? entry : `${out},${entry}`;
    }
    return out;
  }
}

/** A client `data-sync` message (protocol §2.8). */
export function clientMessage(eventType: 'full' | 'patch', user: PreparedUser, entries: string): string {
  return `{"messageType":"data-sync","data":{"eventType":"${eventType}","userKeyId":${user.keyIdJson},"featureFlags":[${entries}]}}`;
}
