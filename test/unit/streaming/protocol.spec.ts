import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInbound, parseStreamingRequest, requestTimestamp, userWithinBounds } from '../../../src/streaming/protocol.js';

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

describe(userWithinBounds.name, () => {
  const props = (n: number): { name: string; value: string }[] => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, value: 'v' }));
  it('bounds the property count, whatever the case of the property name', () => {
    assert.equal(userWithinBounds({ keyId: 'u', customizedProperties: props(3) }, 10_000, 3), true);
    assert.equal(userWithinBounds({ keyId: 'u', customizedProperties: props(4) }, 10_000, 3), false);
    assert.equal(userWithinBounds({ keyId: 'u', CUSTOMIZEDPROPERTIES: props(4) }, 10_000, 3), false);
  });
  it('bounds the JSON size in bytes, multi-byte characters included', () => {
    assert.equal(userWithinBounds({ keyId: 'u', name: 'a'.repeat(70) }, 100, 3), true);
    assert.equal(userWithinBounds({ keyId: 'u', name: 'a'.repeat(100) }, 100, 3), false);
    assert.equal(userWithinBounds({ keyId: 'u', name: 'é'.repeat(60) }, 100, 3), false);
  });
  it('leaves non-objects to the user validation', () => {
    for (const user of [undefined, null, 'u', 42]) assert.equal(userWithinBounds(user, 10, 0), true);
  });
});
