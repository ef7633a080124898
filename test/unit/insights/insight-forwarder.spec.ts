import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FORWARDER_TIMINGS, InsightForwarder, QUEUE_RETRY_CAP_MS, outcomeOf } from '../../../src/insights/insight-forwarder.js';
import type { InsightQueue } from '../../../src/insights/insight-queue.js';

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

describe(`${InsightForwarder.name}: queue unavailable`, () => {
  // After a long Redis outage (a failover under load), the FeatBit backoff (up to 30 s by default)
  // grew on every failed take: delivery then resumed up to 30 s after Redis was back.
  it(`tries the queue again at most ${QUEUE_RETRY_CAP_MS} ms apart, however many takes failed`, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    // The longest delay the jitter can draw.
    t.mock.method(Math, 'random', () => 0.9999);
    const failures = 12;
    let takes = 0;
    const queue: InsightQueue = {
      durable: true,
      dropped: 0,
      push: () => undefined,
      take: () => (++takes <= failures ? Promise.reject(new Error('Connection is closed.')) : Promise.resolve(null)),
      ack: () => Promise.resolve(),
      release: () => Promise.resolve(),
      depth: () => Promise.resolve(0),
      bytes: () => Promise.resolve(0),
      flush: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const forwarder = new InsightForwarder(queue, new URL('http://127.0.0.1:9'), DEFAULT_FORWARDER_TIMINGS);
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    forwarder.start();
    for (let i = 0; i < failures; i++) {
      await turn();
      t.mock.timers.tick(QUEUE_RETRY_CAP_MS);
    }
    await turn();
    assert.equal(takes, failures + 1);
    const stopped = forwarder.stop();
    t.mock.timers.tick(DEFAULT_FORWARDER_TIMINGS.timeoutMs);
    await stopped;
  });
});
