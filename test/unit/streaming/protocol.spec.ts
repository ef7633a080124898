import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInbound, parseStreamingRequest, requestTimestamp } from '../../../src/streaming/protocol.js';

describe(parseStreamingRequest.name, () => {
  const cases: [string, boolean][] = [
    ['/streaming?type=server&token=abc', true],
    ['/streaming?type=client&version=2&token=abc', true],
    ['/streaming?type=client&version=&token=abc', true],
    ['/streaming?type=relay-proxy&token=abc', false],
    ['/streaming?type=Server&token=abc', false],
    ['/streaming?type=server&version=3&token=abc', false],
    ['/streaming?type=server', false],
    ['/streaming?type=server&token=%20', false],
  ];
  for (const [url, ok] of cases) it(`${url} → ${ok ? 'accepted' : 'rejected'}`, () => assert.equal(parseStreamingRequest(url).ok, ok));
});

describe(parseInbound.name, () => {
  it('needs messageType and a data property (null counts), matching the type case-insensitively', () => {
    assert.deepEqual(parseInbound('{"messageType":"PING","data":null}'), { messageType: 'ping', data: null });
    for (const bad of ['', 'x', '[]', 'null', '{"messageType":"ping"}', '{"data":1}', '{"messageType":1,"data":1}', '{"MessageType":"ping","data":1}']) {
      assert.equal(parseInbound(bad), null, bad);
    }
  });
});

describe(requestTimestamp.name, () => {
  const cases: [unknown, number][] = [
    [{ timestamp: 42 }, 42], [{}, 0], [null, 0], [{ timestamp: null }, 0], [{ timestamp: '42' }, 0], [{ timestamp: 1.5 }, 0], [{ timestamp: true }, 0], [{ timestamp: 2 ** 64 }, 0],
  ];
  for (const [data, expected] of cases) it(`${JSON.stringify(data)} → ${expected}`, () => assert.equal(requestTimestamp(data), expected));
});
