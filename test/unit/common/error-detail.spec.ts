import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { errorDetail } from '../../../src/common/error-detail.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe(errorDetail.name, () => {
  it("names the refused connection behind fetch's 'fetch failed'", async () => {
    const port = await closedPort();
    const error = await fetch(`http://127.0.0.1:${port}/`).then(() => undefined, (e: unknown) => e);
    const detail = errorDetail(error);
    assert.equal(detail.code, 'ECONNREFUSED');
    assert.match(detail.err, /^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    assert.equal(detail.syscall, 'connect');
  });

  it('names a DNS failure', async () => {
    const error = await fetch('http://no-such-host.invalid/').then(() => undefined, (e: unknown) => e);
    const detail = errorDetail(error);
    assert.ok(detail.code === 'ENOTFOUND' || detail.code === 'EAI_AGAIN', JSON.stringify(detail));
    assert.equal(detail.hostname, 'no-such-host.invalid');
  });

  it('follows AggregateError and plain values', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED ::1:6379'), { code: 'ECONNREFUSED' });
    assert.deepEqual(errorDetail(new Error('redis down', { cause: new AggregateError([inner], 'all failed') })), {
      err: 'redis down: all failed: connect ECONNREFUSED ::1:6379',
      code: 'ECONNREFUSED',
    });
    assert.deepEqual(errorDetail('plain'), { err: 'plain' });
    assert.deepEqual(errorDetail(new Error('Unexpected server response: 502')), { err: 'Unexpected server response: 502', statusCode: 502 });
  });
});
