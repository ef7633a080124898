import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DataValidationError, MAX_ITEM_DEPTH, parseBootstrap } from '../../../src/store/data-set.js';
import { ENV_ID } from '../../support/sample-data.js';

/** A flag whose `extra` property holds `levels` levels of objects and arrays (the flag itself is level 1). */
function flagNesting(levels: number): Record<string, unknown> {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { a: value } : [value];
  return { id: 'f', envId: ENV_ID, key: 'k', updatedAt: '2026-01-01T00:00:00Z', extra: value };
}
const bootstrap = (flag: Record<string, unknown>) => ({ eventType: 'full', items: [{ envId: ENV_ID, secrets: [], featureFlags: [flag], segments: [] }] });

describe('parseBootstrap: nesting', () => {
  it(`accepts an item nested ${MAX_ITEM_DEPTH} levels deep`, () => {
    assert.equal(parseBootstrap(bootstrap(flagNesting(MAX_ITEM_DEPTH - 1))).envs[0]?.flags.length, 1);
  });

  it(`refuses an item nested ${MAX_ITEM_DEPTH + 1} levels deep, objects and arrays alike, naming it`, () => {
    assert.throws(() => parseBootstrap(bootstrap(flagNesting(MAX_ITEM_DEPTH))), (error: unknown) => error instanceof DataValidationError && /items\[0\]\.featureFlags\[0\] nests/.test(error.message));
  });

  it('refuses an item far deeper than the stack allows without overflowing it', () => {
    assert.throws(() => parseBootstrap(bootstrap(flagNesting(1_000_000))), DataValidationError);
  });
});
