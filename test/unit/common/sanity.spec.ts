import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

describe('test pipeline', () => {
  it('runs compiled TypeScript tests', () => {
    assert.equal(1 + 1, 2);
  });
});
