import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { UpgradeLimiter } from '../../../src/streaming/upgrade-limiter.js';
import { clientAddressResolver } from '../../../src/common/client-address.js';

describe(UpgradeLimiter.name, () => {
  it('allows the burst at once, then the rate; clients are apart', () => {
    const limiter = new UpgradeLimiter(2, 3);
    assert.deepEqual([0, 0, 0, 0].map(() => limiter.take('a', 1000)), [0, 0, 0, 1]);
    assert.equal(limiter.take('b', 1000), 0, 'another client has its own bucket');
    assert.equal(limiter.take('a', 1500), 0, 'half a second at 2/s refills one');
    assert.equal(limiter.take('a', 1500), 1);
    assert.deepEqual([0, 0, 0, 0].map(() => limiter.take('a', 60_000)), [0, 0, 0, 1], 'refills up to the burst, no more');
  });

  it('says how many whole seconds to wait', () => {
    const limiter = new UpgradeLimiter(1, 1);
    assert.equal(limiter.take('a', 0), 0);
    assert.equal(limiter.take('a', 0), 1);
    const slow = new UpgradeLimiter(1, 1);
    slow.take('a', 0);
    assert.equal(slow.take('a', 100), 1);
  });

  it('keeps a bounded number of clients', () => {
    const limiter = new UpgradeLimiter(1, 1);
    for (let i = 0; i < 25_000; i++) limiter.take(`client-${i}`, 0);
    assert.ok(limiter.clients <= 20_000, `${limiter.clients} clients kept`);
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
