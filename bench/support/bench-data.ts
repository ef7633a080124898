import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleBootstrap, type BootstrapBody } from '../../test/support/sample-data.js';

export const ENV_ID = '0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605';
export const SEGMENT_ID = '5b1d7c3e-8a2f-4e6b-9d0c-1a2b3c4d5e6f';

/** A generated flag with `conditions` conditions per rule, two rules, and a 50/50 default. */
export function benchFlag(i: number, updatedAt = '2026-01-05T00:00:00.000Z'): Record<string, unknown> {
  const on = randomUUID();
  const off = randomUUID();
  const ops = [
    { property: 'country', op: 'IsOneOf', value: JSON.stringify(['us', 'ca', 'gb', 'de']) },
    { property: 'age', op: 'BiggerEqualThan', value: '18' },
    { property: 'email', op: 'EndsWith', value: '@example.com' },
    { property: 'plan', op: 'NotEqual', value: 'free' },
  ];
  return {
    id: randomUUID(),
    envId: ENV_ID,
    name: `Bench flag ${i}`,
    key: `bench-flag-${i}`,
    variationType: 'boolean',
    variations: [
      { id: on, name: 'On', value: 'true' },
      { id: off, name: 'Off', value: 'false' },
    ],
    targetUsers: [{ keyIds: [`target-${i}`], variationId: on }],
    rules: [
      {
        id: randomUUID(),
        name: 'Segment rule',
        dispatchKey: null,
        includedInExpt: false,
        conditions: i % 3 === 0 ? [{ property: 'User is in segment', op: null, value: JSON.stringify([SEGMENT_ID]) }] : ops.slice(0, 2),
        variations: [{ id: on, rollout: [0, 1], exptRollout: 1 }],
      },
      {
        id: randomUUID(),
        name: 'Four conditions',
        dispatchKey: null,
        includedInExpt: true,
        conditions: ops,
        variations: [
          { id: on, rollout: [0, 0.5], exptRollout: 0.5 },
          { id: off, rollout: [0.5, 1], exptRollout: 0.5 },
        ],
      },
    ],
    isEnabled: true,
    disabledVariationId: off,
    fallthrough: { dispatchKey: null, includedInExpt: false, variations: [{ id: off, rollout: [0, 1], exptRollout: 1 }] },
    exptIncludeAllTargets: false,
    tags: ['bench'],
    updatedAt,
    isArchived: false,
  };
}

/** The sample environment with `flags` generated flags added. */
export function benchBootstrap(flags: number): BootstrapBody {
  const body = sampleBootstrap();
  const env = body.items[0];
  if (!env) throw new Error('sample data has no environment');
  for (let i = 0; i < flags; i++) env.featureFlags.push(benchFlag(i));
  return body;
}

/** `benchBootstrap(flags)` written as a data file in a fresh temporary directory (`name` names it). */
export function benchDataFile(flags: number, name: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const file = join(dir, 'data.json');
  writeFileSync(file, JSON.stringify(benchBootstrap(flags)));
  return { dir, file };
}
