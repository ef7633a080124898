import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EvaluationIndex } from '../../../src/evaluation/evaluation-index.js';
import { prepareUser, parseEndUser, type EndUser } from '../../../src/evaluation/end-user.js';
import { bucketOf } from '../../../src/evaluation/dispatch.js';
import { parseDotNetDouble } from '../../../src/evaluation/numbers.js';
import { clientEntryJson, evaluateFlag, compileFlag, MAX_REGEX_LENGTH } from '../../../src/evaluation/evaluator.js';
import { parseTimestamp } from '../../../src/store/data-set.js';
import { exampleExpectations, sampleBootstrap } from '../../support/sample-data.js';

const SEGMENT_ID = '5b1d7c3e-8a2f-4e6b-9d0c-1a2b3c4d5e6f';

function sampleIndex(): EvaluationIndex {
  const env = sampleBootstrap().items[0]!;
  const item = (json: Record<string, unknown>) => ({ json, timestamp: parseTimestamp(json['updatedAt']) });
  return new EvaluationIndex(env.featureFlags.map(item), env.segments.map(item));
}

function user(keyId: string, props: Record<string, string> = {}, name: string | null = 'Someone'): EndUser {
  return { keyId, name, customizedProperties: Object.entries(props).map(([n, value]) => ({ name: n, value })) };
}

const USERS: Record<string, EndUser> = {
  'u-0001': user('u-0001', { country: 'de' }, 'Olivia'),
  'u-1001': user('u-1001', { country: 'us', age: '30', email: 'ann@example.com', company: 'acme' }, 'Ann'),
  'u-1002': user('u-1002', { country: 'ca', age: '42', email: 'bob@example.com', company: 'acme' }, 'Bob'),
  'u-1003': user('u-1003', { country: 'us', age: '17', company: 'hooli' }, 'Cleo'),
  'u-2001': user('u-2001', { country: 'fr', age: '30', company: 'globex' }, 'Dev'),
  'u-2002': user('u-2002', { country: 'us', age: 'abc', company: 'hooli' }, 'Eve'),
  'u-3001': user('u-3001', { country: 'us' }, null),
};

describe('evaluation.md §11 worked examples', () => {
  const index = sampleIndex();
  const rows: [string, string, string, string, boolean][] = [
    ['new-checkout', 'u-0001', 'true', 'targeted', false],
    ['new-checkout', 'u-1001', 'true', 'US and CA adults', true],
    ['new-checkout', 'u-1002', 'false', 'US and CA adults', false],
    ['new-checkout', 'u-1003', 'false', 'default', false],
    ['new-checkout', 'u-2001', 'false', 'default', false],
    ['new-checkout', 'u-2002', 'false', 'default', false],
    ['new-checkout', 'u-3001', 'false', 'default', false],
    ['banner-color', 'u-1001', 'blue', 'Beta testers', true],
    ['banner-color', 'u-1002', 'green', 'default', true],
    ['banner-color', 'u-1003', 'blue', 'Beta testers', true],
    ['banner-color', 'u-2001', 'green', 'default', true],
    ['banner-color', 'u-2002', 'red', 'default', true],
    ['banner-color', 'u-0001', 'green', 'default', true],
    ...Object.keys(USERS).map((k): [string, string, string, string, boolean] => ['dark-mode', k, 'false', 'flag disabled', false]),
  ];
  for (const [flagKey, keyId, variation, reason, expt] of rows) {
    it(`${flagKey} for ${keyId} → ${variation} (${reason}, sendToExperiment ${expt})`, () => {
      const flag = index.flag(flagKey)!;
      const result = index.evaluate(flag, prepareUser(USERS[keyId]!));
      assert.equal(result.variation?.value, variation);
      assert.equal(result.matchReason, reason);
      assert.equal(result.sendToExperiment, expt);
    });
  }

  it('matches every case of example-expectations.json', () => {
    for (const c of exampleExpectations().cases) {
      const parsed = parseEndUser(c.user);
      assert.ok(parsed);
      const result = index.evaluate(index.flag(c.flagKey)!, prepareUser(parsed));
      assert.deepEqual(
        { variation: result.variation?.value, matchReason: result.matchReason, sendToExperiment: result.sendToExperiment },
        { variation: c.variation, matchReason: c.matchReason, sendToExperiment: c.sendToExperiment },
        `${c.flagKey}/${c.user.keyId}`,
      );
    }
  });

  it('writes the client payload entry exactly as protocol §12 shows it', () => {
    const flag = index.flag('new-checkout')!;
    const entry = clientEntryJson(flag, index.evaluate(flag, prepareUser(USERS['u-1001']!)));
    assert.equal(
      entry,
      '{"id":"new-checkout","variation":"true","variationType":"boolean","variationId":"3f9a1c2e-7b4d-4e8f-a6c5-1d2e3f4a5b6c","matchReason":"US and CA adults","variationOptions":[{"id":"3f9a1c2e-7b4d-4e8f-a6c5-1d2e3f4a5b6c","value":"true"},{"id":"8c7b6a59-4d3e-4f21-b0a9-c8d7e6f5a4b3","value":"false"}],"sendToExperiment":true,"timestamp":1767432600000}',
    );
  });
});

describe('evaluation.md §12 hash vectors', () => {
  const vectors: [string, number][] = [
    ['test-value', 0.14653629204258323],
    ['qKPKh1S3FolC', 0.9105919692665339],
    ['3eacb184-2d79-49df-9ea7-edd4f10e4c6f', 0.08994403155520558],
    ['new-checkoutu-1001', 0.35219588223844767],
    ['exptnew-checkoutu-1001', 0.28944395668804646],
    ['exptnew-checkoutu-1002', 0.6313054659403861],
    ['banner-colorhooli', 0.24858316453173757],
    ['banner-color', 0.9885863373056054],
    ['new-checkoutu-1002', 0.7856441140174866],
    ['new-checkoutu-1003', 0.6178697356954217],
    ['banner-coloracme', 0.935706804972142],
    ['banner-colorglobex', 0.7259286986663938],
  ];
  for (const [key, bucket] of vectors) it(`bucket(${key}) = ${bucket}`, () => assert.equal(bucketOf(key), bucket));
});

describe(parseDotNetDouble.name, () => {
  const numbers: [string, number][] = [
    ['18', 18], [' 42 ', 42], ['+5', 5], ['-3.5', -3.5], ['1,000', 1000], ['1,0,0', 100], ['5.', 5], ['.5', 0.5],
    ['1e3', 1000], ['1.5E-2', 0.015], ['-.5e1', -5], ['Infinity', Infinity], ['-infinity', -Infinity], ['\t7\n', 7],
  ];
  for (const [text, value] of numbers) it(`reads ${JSON.stringify(text)} as ${value}`, () => assert.equal(parseDotNetDouble(text), value));
  for (const text of ['30 years', '0x10', '', ' ', '.', 'e5', '1e', ',100', '1.2.3', 'abc', '--1', 'NaN', '1 000']) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.ok(Number.isNaN(parseDotNetDouble(text))));
  }
});

/** One-condition flag: "on" when the condition holds, else default "off". */
function conditionFlag(property: string, op: string | null, value: string | null, extra: Record<string, unknown> = {}) {
  return compileFlag(
    {
      key: 'f',
      variationType: 'boolean',
      variations: [{ id: 'on', value: 'true' }, { id: 'off', value: 'false' }],
      isEnabled: true,
      rules: [{ name: 'r', conditions: [{ property, op, value }], variations: [{ id: 'on', rollout: [0, 1], exptRollout: 1 }] }],
      fallthrough: { variations: [{ id: 'off', rollout: [0, 1], exptRollout: 1 }] },
      ...extra,
    },
    1,
  )!;
}

function holds(property: string, op: string | null, value: string | null, u: EndUser): boolean {
  const index = new EvaluationIndex([], []);
  return evaluateFlag(conditionFlag(property, op, value), prepareUser(u), index.context()).matchReason === 'r';
}

describe('operators (evaluation.md §4)', () => {
  const cases: [string, string, string | null, string | null, EndUser, boolean][] = [
    ['MatchRegex, pattern is the condition value', 'email', 'MatchRegex', '@example\\.com$', user('a', { email: 'ann@example.com' }), true],
    ['BiggerThan on "30 years"', 'age', 'BiggerThan', '18', user('a', { age: '30 years' }), false],
    ['BiggerEqualThan on "1,000"', 'visits', 'BiggerEqualThan', '1000', user('a', { visits: '1,000' }), true],
    ['NotEqual on a missing attribute', 'plan', 'NotEqual', 'free', user('a'), true],
    ['NotEqual on a missing name', 'name', 'NotEqual', 'bob', user('a', {}, null), false],
    ['IsTrue on "True"', 'beta', 'IsTrue', 'IsTrue', user('a', { beta: 'True' }), true],
    ['IsTrue on " true"', 'beta', 'IsTrue', 'IsTrue', user('a', { beta: ' true' }), false],
    ['IsFalse on "FALSE"', 'beta', 'IsFalse', 'IsFalse', user('a', { beta: 'FALSE' }), true],
    ['NotOneOf "null"', 'country', 'NotOneOf', 'null', user('a', { country: 'us' }), true],
    ['IsOneOf "null"', 'country', 'IsOneOf', 'null', user('a', { country: 'us' }), false],
    ['IsOneOf is case-sensitive', 'tier', 'IsOneOf', '["gold","silver"]', user('a', { tier: 'Gold' }), false],
    ['IsOneOf with invalid JSON', 'tier', 'IsOneOf', '[gold', user('a', { tier: 'gold' }), false],
    ['NotOneOf with invalid JSON', 'tier', 'NotOneOf', '[gold', user('a', { tier: 'x' }), false],
    ['IsOneOf with non-strings', 'tier', 'IsOneOf', '["1",2]', user('a', { tier: '1' }), false],
    ['Contains ""', 'email', 'Contains', '', user('a', { email: 'x' }), true],
    ['NotContain', 'email', 'NotContain', 'spam', user('a', { email: 'x@spam.com' }), false],
    ['StartsWith', 'email', 'StartsWith', 'x@', user('a', { email: 'x@spam.com' }), true],
    ['EndsWith on a missing attribute', 'email', 'EndsWith', '@x.com', user('a'), false],
    ['Equal is ordinal', 'country', 'Equal', 'US', user('a', { country: 'us' }), false],
    ['keyId attribute', 'keyId', 'Equal', 'a', user('a'), true],
    ['name attribute', 'name', 'Equal', 'Ann', user('a', {}, 'Ann'), true],
    ['first duplicate property wins', 'p', 'Equal', '1', { keyId: 'a', name: null, customizedProperties: [{ name: 'p', value: '1' }, { name: 'p', value: '2' }] }, true],
    ['property names are case-sensitive', 'Country', 'Equal', 'us', user('a', { country: 'us' }), false],
    ['(?i) makes a regex case-insensitive', 'email', 'MatchRegex', '(?i)^ANN@', user('a', { email: 'ann@x' }), true],
    ['an invalid regex is false', 'email', 'MatchRegex', '([a-', user('a', { email: 'ann@x' }), false],
    ['an invalid regex is false for NotMatchRegex too', 'email', 'NotMatchRegex', '([a-', user('a', { email: 'ann@x' }), false],
    ['an over-long regex is refused', 'email', 'MatchRegex', 'a'.repeat(MAX_REGEX_LENGTH + 1), user('a', { email: 'a'.repeat(2000) }), false],
    ['NotMatchRegex', 'email', 'NotMatchRegex', '@example\\.com$', user('a', { email: 'x@y.z' }), true],
    ['LessThan with Infinity', 'n', 'LessThan', 'Infinity', user('a', { n: '1e308' }), true],
    ['LessEqualThan', 'n', 'LessEqualThan', '5', user('a', { n: '5.0' }), true],
    ['an unknown op is false', 'n', 'Between', '5', user('a', { n: '5' }), false],
    ['a null op is false', 'n', null, '5', user('a', { n: '5' }), false],
    ['a null value is false', 'n', 'NotEqual', null, user('a', { n: '5' }), false],
    ['an empty property reads ""', '', 'Equal', '', user('a'), true],
  ];
  for (const [name, property, op, value, u, expected] of cases) it(name, () => assert.equal(holds(property, op, value, u), expected));

  it('a rule with no conditions matches everyone', () => {
    const flag = compileFlag({ key: 'f', variations: [{ id: 'on', value: 'x' }], isEnabled: true, rules: [{ name: 'all', conditions: [], variations: [{ id: 'on', rollout: [0, 1] }] }], fallthrough: { variations: [] } }, 1)!;
    assert.equal(evaluateFlag(flag, prepareUser(user('a')), new EvaluationIndex([], []).context()).matchReason, 'all');
  });
});

describe('segments (evaluation.md §5)', () => {
  const segment = (extra: Record<string, unknown>) => ({ json: { id: SEGMENT_ID, included: [], excluded: [], rules: [], ...extra }, timestamp: 1 });
  const flagIn = conditionFlag('User is in segment', null, JSON.stringify([SEGMENT_ID, 'missing-segment'])).json;
  const flagNotIn = conditionFlag('User is not in segment', null, JSON.stringify([SEGMENT_ID])).json;
  const check = (seg: Record<string, unknown>, u: EndUser, json = flagIn) => {
    const index = new EvaluationIndex([{ json, timestamp: 1 }], [segment(seg)]);
    return index.evaluate(index.flag('f')!, prepareUser(u)).matchReason === 'r';
  };
  it('exclusion wins over inclusion and rules', () => {
    assert.equal(check({ included: ['a'], excluded: ['a'], rules: [{ conditions: [] }] }, user('a')), false);
  });
  it('inclusion', () => assert.equal(check({ included: ['a'] }, user('a')), true));
  it('any rule whose conditions all hold', () => {
    const rules = [{ conditions: [{ property: 'country', op: 'Equal', value: 'de' }] }, { conditions: [{ property: 'plan', op: 'Equal', value: 'pro' }, { property: 'age', op: 'BiggerThan', value: '20' }] }];
    assert.equal(check({ rules }, user('a', { plan: 'pro', age: '30' })), true);
    assert.equal(check({ rules }, user('a', { plan: 'pro', age: '10' })), false);
  });
  it('a missing segment holds no one; "not in" then matches', () => {
    assert.equal(check({ id: 'other' }, user('a')), false);
    assert.equal(check({ id: 'other' }, user('a'), flagNotIn), true);
  });
  it('archived segments still evaluate', () => assert.equal(check({ included: ['a'], isArchived: true }, user('a')), true));
  it('finds flags that reference a segment', () => {
    const index = sampleIndex();
    assert.deepEqual(index.flagsReferencingSegments([SEGMENT_ID]).map((f) => f.key), ['banner-color', 'checkout-layout']);
  });
});

describe('flag paths (evaluation.md §2, §6, §7, §8)', () => {
  const base = {
    key: 'k',
    variationType: 'string',
    variations: [{ id: 'a', value: 'A' }, { id: 'b', value: 'B' }],
    isEnabled: true,
    disabledVariationId: 'b',
    fallthrough: { dispatchKey: null, includedInExpt: true, variations: [{ id: 'a', rollout: [0, 1], exptRollout: 1 }] },
  };
  const run = (extra: Record<string, unknown>, u: EndUser = user('u1')) =>
    evaluateFlag(compileFlag({ ...base, ...extra }, 1)!, prepareUser(u), new EvaluationIndex([], []).context());

  it('archived → no variation, "flag archived"', () => {
    const r = run({ isArchived: true });
    assert.deepEqual([r.variation, r.matchReason, r.sendToExperiment], [null, 'flag archived', false]);
    const entry = clientEntryJson(compileFlag({ ...base, isArchived: true }, 1)!, r);
    assert.match(entry, /"variation":null,"variationType":"string","variationId":null,"matchReason":"flag archived"/);
  });
  it('disabled with an unknown variation id → none', () => assert.equal(run({ isEnabled: false, disabledVariationId: 'zzz' }).variation, null));
  it('targeting walks entries in order and is exact', () => {
    const targetUsers = [{ keyIds: ['x', 'u1'], variationId: 'b' }, { keyIds: ['u1'], variationId: 'a' }];
    assert.equal(run({ targetUsers }).variation?.id, 'b');
    assert.equal(run({ targetUsers }, user('U1')).matchReason, 'default');
  });
  it('targeted sendToExperiment follows exptIncludeAllTargets', () => {
    const targetUsers = [{ keyIds: ['u1'], variationId: 'a' }];
    assert.equal(run({ targetUsers, exptIncludeAllTargets: true }).sendToExperiment, true);
    assert.equal(run({ targetUsers }).sendToExperiment, false);
  });
  it('no rollout range matches → the empty variation', () => {
    const r = run({ fallthrough: { variations: [{ id: 'a', rollout: [0, 0], exptRollout: 0 }] } });
    assert.deepEqual([r.variation?.id, r.variation?.value, r.sendToExperiment], ['', '', false]);
    assert.equal(run({ fallthrough: { variations: [] } }).variation?.value, '');
  });
  it('the rule\'s own includedInExpt counts (node SDK reads the fallthrough)', () => {
    const rules = [{ name: 'r', includedInExpt: false, conditions: [], variations: [{ id: 'a', rollout: [0, 1], exptRollout: 1 }] }];
    assert.equal(run({ rules }).sendToExperiment, false);
    assert.equal(run({ rules: [{ ...rules[0], includedInExpt: true }], fallthrough: { ...base.fallthrough, includedInExpt: false } }).sendToExperiment, true);
  });
  it('dispatch by an attribute; a missing one hashes the flag key alone', () => {
    const fallthrough = { dispatchKey: 'company', includedInExpt: false, variations: [{ id: 'a', rollout: [0, 0.5] }, { id: 'b', rollout: [0.5, 1] }] };
    // banner-color → 0.988… and the flag key alone is hashed when company is missing
    const r = evaluateFlag(compileFlag({ ...base, key: 'banner-color', fallthrough }, 1)!, prepareUser(user('u1')), new EvaluationIndex([], []).context());
    assert.equal(r.variation?.id, 'b');
    const hooli = evaluateFlag(compileFlag({ ...base, key: 'banner-color', fallthrough }, 1)!, prepareUser(user('u1', { company: 'hooli' })), new EvaluationIndex([], []).context());
    assert.equal(hooli.variation?.id, 'a');
  });
  it('missing fields are lenient', () => {
    const r = evaluateFlag(compileFlag({ key: 'bare', isEnabled: true }, 1)!, prepareUser(user('u')), new EvaluationIndex([], []).context());
    assert.deepEqual([r.variation?.value, r.matchReason], ['', 'default']);
    assert.equal(compileFlag({ name: 'no key' }, 1), null);
  });
});

describe(parseEndUser.name, () => {
  it('matches property names case-insensitively and coerces numbers and booleans', () => {
    assert.deepEqual(parseEndUser({ KeyId: 'u', NAME: 'n', CustomizedProperties: [{ Name: 'age', Value: 30 }, { name: 'vip', value: true }] }), {
      keyId: 'u',
      name: 'n',
      customizedProperties: [{ name: 'age', value: '30' }, { name: 'vip', value: 'true' }],
    });
  });
  const invalid: [string, unknown][] = [
    ['not an object', 'u-1'],
    ['no keyId', { name: 'x' }],
    ['a blank keyId', { keyId: '  ' }],
    ['a numeric keyId', { keyId: 42 }],
    ['properties not an array', { keyId: 'u', customizedProperties: {} }],
    ['an object property value', { keyId: 'u', customizedProperties: [{ name: 'a', value: { x: 1 } }] }],
    ['a property without a name', { keyId: 'u', customizedProperties: [{ value: 'x' }] }],
  ];
  for (const [name, raw] of invalid) it(`rejects ${name}`, () => assert.equal(parseEndUser(raw), null));
  it('accepts absent or null name and properties', () => {
    assert.deepEqual(parseEndUser({ keyId: 'u', name: null, customizedProperties: null }), { keyId: 'u', name: null, customizedProperties: [] });
  });
});
