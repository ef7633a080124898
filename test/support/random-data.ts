/**
 * Seeded generators of flags, segments and users for differential tests, restricted to where
 * the node server SDK and the FeatBit evaluation server agree (evaluation.md §10): no regex, every
 * attribute present, numbers in plain integer form, ranges that tile 0..1, known variation ids,
 * no archived flags, and rules whose includedInExpt equals the fallthrough's.
 */

/** mulberry32: a small, fast, seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Generated {
  flags: Record<string, unknown>[];
  segments: Record<string, unknown>[];
  users: { keyId: string; name: string; customizedProperties: { name: string; value: string }[] }[];
}

const COUNTRIES = ['us', 'ca', 'de', 'fr', 'jp'];
const PLANS = ['free', 'pro', 'team'];
const DOMAINS = ['example.com', 'acme.io', 'mail.org'];
const BOOLS = ['true', 'false', 'True', 'FALSE', 'yes'];

export function generate(seed: number, counts = { flags: 60, segments: 6, users: 60 }): Generated {
  const random = seededRandom(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  let ids = 0;
  const id = (prefix: string): string => `${prefix}-${seed}-${ids++}`;

  const users = Array.from({ length: counts.users }, (_, i) => ({
    keyId: `user-${i}`,
    name: `Name ${int(5)}`,
    customizedProperties: [
      { name: 'country', value: pick(COUNTRIES) },
      { name: 'plan', value: pick(PLANS) },
      { name: 'age', value: String(1 + int(90)) },
      { name: 'email', value: `u${i}@${pick(DOMAINS)}` },
      { name: 'beta', value: pick(BOOLS) },
    ],
  }));
  const someUsers = (): string[] => users.filter(() => random() < 0.1).map((u) => u.keyId);

  const plainCondition = (): Record<string, unknown> => {
    switch (int(8)) {
      case 0:
        return { property: 'country', op: pick(['Equal', 'NotEqual']), value: pick(COUNTRIES) };
      case 1:
        return { property: 'email', op: pick(['Contains', 'NotContain', 'EndsWith']), value: pick(DOMAINS) };
      case 2:
        return { property: 'email', op: 'StartsWith', value: `u${int(6)}` };
      case 3:
        return { property: 'plan', op: pick(['IsOneOf', 'NotOneOf']), value: JSON.stringify(PLANS.filter(() => random() < 0.5)) };
      case 4:
        return { property: 'beta', op: pick(['IsTrue', 'IsFalse']), value: 'IsTrue' };
      case 5:
        return { property: 'age', op: pick(['LessThan', 'LessEqualThan', 'BiggerThan', 'BiggerEqualThan']), value: String(int(90)) };
      case 6:
        return { property: 'keyId', op: pick(['Equal', 'NotEqual']), value: `user-${int(counts.users)}` };
      default:
        return { property: 'name', op: pick(['Equal', 'NotEqual', 'StartsWith']), value: `Name ${int(5)}` };
    }
  };

  const segments = Array.from({ length: counts.segments }, () => ({
    id: id('seg'),
    envId: 'env',
    name: 'segment',
    included: someUsers(),
    excluded: someUsers(),
    rules: Array.from({ length: int(3) }, () => ({ id: id('sr'), name: 'r', conditions: Array.from({ length: 1 + int(2) }, plainCondition) })),
    updatedAt: '2026-01-01T00:00:00.000Z',
    isArchived: false,
  }));

  const condition = (): Record<string, unknown> =>
    random() < 0.2
      ? { property: pick(['User is in segment', 'User is not in segment']), op: null, value: JSON.stringify(segments.filter(() => random() < 0.3).map((s) => s.id)) }
      : plainCondition();

  const flags = Array.from({ length: counts.flags }, (_, i) => {
    const variations = Array.from({ length: 2 + int(3) }, (_, v) => ({ id: id('var'), name: `v${v}`, value: `value-${v}` }));
    const includedInExpt = random() < 0.5;
    const rollout = (): Record<string, unknown>[] => {
      const n = 1 + int(3);
      const cuts = [0, ...Array.from({ length: n - 1 }, () => Math.round(random() * 100) / 100).sort((a, b) => a - b), 1];
      return Array.from({ length: n }, (_, k) => ({ id: pick(variations).id, rollout: [cuts[k], cuts[k + 1]], exptRollout: Math.round(random() * 100) / 100 }));
    };
    return {
      id: id('flag'),
      envId: 'env',
      key: `flag-${seed}-${i}`,
      name: `Flag ${i}`,
      variationType: 'string',
      variations,
      targetUsers: Array.from({ length: int(3) }, () => ({ keyIds: someUsers(), variationId: pick(variations).id })),
      rules: Array.from({ length: int(4) }, (_, r) => ({
        id: id('rule'),
        name: `rule ${r}`,
        dispatchKey: pick([null, '', 'keyId', 'country', 'name', 'email']),
        includedInExpt,
        conditions: Array.from({ length: 1 + int(4) }, condition),
        variations: rollout(),
      })),
      isEnabled: random() < 0.9,
      disabledVariationId: pick(variations).id,
      fallthrough: { dispatchKey: pick([null, 'keyId', 'plan']), includedInExpt, variations: rollout() },
      exptIncludeAllTargets: random() < 0.3,
      updatedAt: '2026-01-01T00:00:00.000Z',
      isArchived: false,
    };
  });
  return { flags, segments, users };
}
