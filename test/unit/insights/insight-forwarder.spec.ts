import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { outcomeOf } from '../../../src/insights/insight-forwarder.js';

describe(outcomeOf.name, () => {
  const cases: [number, ReturnType<typeof outcomeOf>][] = [
    [200, 'sent'],
    [204, 'sent'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [401, 'misconfigured'],
    [403, 'misconfigured'],
    [404, 'misconfigured'],
    [405, 'misconfigured'],
    [413, 'too-large'],
    [400, 'refused'],
    [422, 'refused'],
  ];
  for (const [status, outcome] of cases) {
    it(`${status} → ${outcome}`, () => assert.equal(outcomeOf(status), outcome));
  }
});
