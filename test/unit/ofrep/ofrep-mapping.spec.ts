import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EvaluationIndex } from '../../../src/evaluation/evaluation-index.js';
import { prepareUser } from '../../../src/evaluation/end-user.js';
import { contextToUser, toOfrep, toOfrepJson, typedValue } from '../../../src/ofrep/ofrep-mapping.js';
import { parseTimestamp } from '../../../src/store/data-set.js';
import { sampleBootstrap } from '../../support/sample-data.js';

describe('OFREP mapping', () => {
  it('maps the context onto a FeatBit user', () => {
    assert.deepEqual(contextToUser({ context: { targetingKey: 'u', name: 'Ann', age: 30, vip: true, country: 'us' } }), {
      ok: true,
      user: { keyId: 'u', name: 'Ann', customizedProperties: [{ name: 'age', value: '30' }, { name: 'vip', value: 'true' }, { name: 'country', value: 'us' }] },
    });
    assert.equal((contextToUser({ context: {} }) as { errorCode: string }).errorCode, 'TARGETING_KEY_MISSING');
    assert.equal((contextToUser({ context: [] }) as { errorCode: string }).errorCode, 'INVALID_CONTEXT');
    assert.equal((contextToUser('x') as { errorCode: string }).errorCode, 'PARSE_ERROR');
  });

  it('types values by variationType', () => {
    assert.deepEqual(typedValue('boolean', 'True'), { ok: true, value: true });
    assert.deepEqual(typedValue('number', '2.5'), { ok: true, value: 2.5 });
    assert.deepEqual(typedValue('json', '{"a":1}'), { ok: true, value: { a: 1 } });
    assert.deepEqual(typedValue('string', 'x'), { ok: true, value: 'x' });
    assert.equal(typedValue('number', 'abc').ok, false);
    assert.equal(typedValue('json', '"not an object"').ok, false);
  });

  it('serialises exactly what toOfrep returns, for every flag and several users', () => {
    const env = sampleBootstrap().items[0]!;
    const item = (json: Record<string, unknown>) => ({ json, timestamp: parseTimestamp(json['updatedAt']) });
    const index = new EvaluationIndex(env.featureFlags.map(item), env.segments.map(item));
    for (const keyId of ['u-0001', 'u-1001', 'u-1002', 'u-2001']) {
      const user = prepareUser({ keyId, name: null, customizedProperties: [{ name: 'country', value: 'us' }, { name: 'age', value: '30' }, { name: 'orders', value: '12' }, { name: 'device', value: 'desktop' }] });
      for (const flag of index.flags) {
        const result = index.evaluate(flag, user);
        assert.deepEqual(JSON.parse(toOfrepJson(flag, result)), toOfrep(flag, result), `${flag.key}/${keyId}`);
      }
    }
  });
});
