import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Tarpit, TokenBuckets, clientBucketOf } from '../../../src/common/token-buckets.js';
import { clientAddressResolver } from '../../../src/common/client-address.js';

describe(TokenBuckets.name, () => {
  it('allows the burst at once, then the rate; clients are apart', () => {
    const buckets = new TokenBuckets(2, 3);
    assert.deepEqual([0, 0, 0].map(() => buckets.take('a', 1000)), [0, 0, 0]);
    assert.equal(buckets.take('a', 1000), 500, 'one token at 2/s is half a second away');
    assert.equal(buckets.take('b', 1000), 0, 'another client has its own bucket');
    assert.equal(buckets.take('a', 1500), 0, 'half a second at 2/s refills one');
    assert.equal(buckets.take('a', 1500), 500);
    assert.deepEqual([0, 0, 0, 0].map(() => buckets.take('a', 60_000) === 0), [true, true, true, false], 'refills up to the burst, no more');
  });

  it('takes a cost of several tokens, at most the burst, and nothing when they are not there', () => {
    const buckets = new TokenBuckets(10, 20);
    assert.equal(buckets.take('a', 0, 15), 0);
    assert.equal(buckets.take('a', 0, 10), 500, 'five left: five more need half a second at 10/s');
    assert.equal(buckets.take('a', 0, 5), 0, 'the refused cost took nothing');
    assert.equal(buckets.take('a', 2000, 1000), 0, 'a cost above the burst costs the burst');
    assert.equal(buckets.take('a', 2000, 1), 100);
  });

  it('keeps a bounded number of clients, forgetting the least recently seen', () => {
    const buckets = new TokenBuckets(1, 1);
    buckets.take('kept', 0);
    for (let i = 0; i < 25_000; i++) {
      buckets.take(`client-${i}`, 0);
      if (i % 10_000 === 0) buckets.take('kept', 0);
    }
    assert.ok(buckets.clients <= 20_000, `${buckets.clients} clients kept`);
    assert.ok(buckets.take('kept', 0) > 0, 'a client seen recently keeps its empty bucket');
  });
});

describe('clientBucketOf', () => {
  it('is an IPv4 address as is, a mapped one as IPv4, an IPv6 one by its /64', () => {
    assert.equal(clientBucketOf('203.0.113.9'), '203.0.113.9');
    assert.equal(clientBucketOf('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(clientBucketOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::');
    assert.equal(clientBucketOf('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::');
    assert.notEqual(clientBucketOf('2001:db8:1:3::1'), '2001:db8:1:2::');
  });
});

describe(Tarpit.name, () => {
  it('answers refusals at once within the budget, then holds them, per client', () => {
    const tarpit = new Tarpit();
    const delays = Array.from({ length: 25 }, () => tarpit.delayFor('198.51.100.1', 0));
    assert.deepEqual(delays.slice(0, 20), Array<number>(20).fill(0), 'a burst of 20');
    assert.ok(
      delays.slice(20).every((d) => d >= Tarpit.HOLD_MS / 2 && d <= Tarpit.HOLD_MS * 1.5),
      `held about HOLD_MS (jittered): ${delays.slice(20).join(', ')}`,
    );
    assert.equal(tarpit.held, 5);
    assert.equal(tarpit.delayFor('198.51.100.2', 0), 0, 'another client');
    assert.equal(tarpit.delayFor('198.51.100.1', 1000), 0, 'ten a second refill');
  });
});

describe('clientAddressResolver', () => {
  const request = (peer: string, forwarded?: string) =>
    ({ socket: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

  it('is the peer unless the peer is a trusted proxy; then the first untrusted address from the right', () => {
    assert.equal(clientAddressResolver(false)(request('10.0.0.5', '203.0.113.9')), '10.0.0.5');
    const inCluster = clientAddressResolver(['10.0.0.0/8', '::1']);
    assert.equal(inCluster(request('10.0.0.5', '203.0.113.9')), '203.0.113.9');
    assert.equal(inCluster(request('::ffff:10.0.0.5', '198.51.100.1, 203.0.113.9, 10.1.1.1')), '203.0.113.9');
    assert.equal(inCluster(request('198.51.100.7', '203.0.113.9')), '198.51.100.7', 'an untrusted peer cannot name another client');
    assert.equal(inCluster(request('::1')), '::1');
    assert.equal(clientAddressResolver(true)(request('10.0.0.5', '203.0.113.9, 10.1.1.1')), '203.0.113.9');
  });
});
