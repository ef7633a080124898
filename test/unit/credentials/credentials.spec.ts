import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCompactGuid, encodeCompactGuid } from '../../../src/credentials/compact-guid.js';
import { parseEnvSecret } from '../../../src/credentials/env-secret.js';
import { decodeStreamingToken, encodeStreamingToken } from '../../../src/credentials/streaming-token.js';

const ENV = '0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605';
const SERVER = 'KksefcOVYE-KK8HT5fcIGQkSo8D31rWE6hxJPS6Pe2BQ';
const CLIENT = 'uMak4j8dW0qcfQ4fKjtMXQkSo8D31rWE6hxJPS6Pe2BQ';
const AT = Date.parse('2026-01-01T00:00:00.123Z');

describe('compact GUID (protocol §1.1)', () => {
  it('encodes in .NET byte order and decodes back', () => {
    assert.equal(encodeCompactGuid(ENV), 'kSo8D31rWE6hxJPS6Pe2BQ');
    assert.equal(decodeCompactGuid('kSo8D31rWE6hxJPS6Pe2BQ'), ENV);
    assert.equal(encodeCompactGuid('ad99d259-1f50-4ed9-a002-7c65e25487df'), 'WdKZrVAf2U6gAnxl4lSH3w');
    assert.equal(decodeCompactGuid('WdKZrVAf2U6gAnxl4lSH3w'), 'ad99d259-1f50-4ed9-a002-7c65e25487df');
  });
  for (const bad of ['', 'short', 'kSo8D31rWE6hxJPS6Pe2B!', 'kSo8D31rWE6hxJPS6Pe2BQX']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(decodeCompactGuid(bad), null));
  }
  it('rejects a malformed GUID to encode', () => assert.equal(encodeCompactGuid('not-a-guid'), null));
});

describe('environment secret (protocol §1.2)', () => {
  it('recovers the env id of both example secrets', () => {
    assert.deepEqual(parseEnvSecret(SERVER), { envId: ENV });
    assert.deepEqual(parseEnvSecret(CLIENT), { envId: ENV });
  });
  const invalid: [string, string | undefined][] = [
    ['undefined', undefined],
    ['blank', ' '.repeat(44)],
    ['43 chars', SERVER.slice(1)],
    ['45 chars', `${SERVER}A`],
    ['an all-zero env id', `${SERVER.slice(0, 22)}AAAAAAAAAAAAAAAAAAAAAA`],
    ['bad characters', `${SERVER.slice(0, 22)}!!!!!!!!!!!!!!!!!!!!!!`],
  ];
  for (const [name, secret] of invalid) it(`rejects ${name}`, () => assert.equal(parseEnvSecret(secret), null));
});

describe('streaming token (protocol §1.4)', () => {
  it('builds the example server and client tokens of §12', () => {
    assert.equal(encodeStreamingToken(SERVER, AT, 17), 'QBXBSKksefcOVYE-KK8HT5BXDXWWHDQQBWSfcIGQkSo8D31rWE6hxJPS6Pe2BQ');
    assert.equal(encodeStreamingToken(CLIENT, AT, 30), 'QSQBSuMak4j8dW0qcfQ4fKjtMXQkSo8D31rBXDXWWHDQQBWSWE6hxJPS6Pe2BQ');
  });
  it('decodes them within the expiry window', () => {
    assert.deepEqual(decodeStreamingToken('QBXBSKksefcOVYE-KK8HT5BXDXWWHDQQBWSfcIGQkSo8D31rWE6hxJPS6Pe2BQ', AT + 1000, 30), { ok: true, secret: SERVER, timestamp: AT });
    assert.deepEqual(decodeStreamingToken('QSQBSuMak4j8dW0qcfQ4fKjtMXQkSo8D31rBXDXWWHDQQBWSWE6hxJPS6Pe2BQ', AT - 1000, 30), { ok: true, secret: CLIENT, timestamp: AT });
  });
  it('decodes the ELS test vector (15-char timestamp code, position 23)', () => {
    const token = 'QWSBHgpnOV3wI3kKAO9q9viC0wQWQQBDDDQBZWPXDQSdKZrVAf2U6gAnxl4lSH3w';
    const decoded = decodeStreamingToken(token, 1666018247603, 30);
    assert.deepEqual(decoded, { ok: true, secret: 'gpnOV3wI3kKAO9q9viC0wQWdKZrVAf2U6gAnxl4lSH3w', timestamp: 1666018247603 });
    assert.deepEqual(parseEnvSecret('gpnOV3wI3kKAO9q9viC0wQWdKZrVAf2U6gAnxl4lSH3w'), { envId: 'ad99d259-1f50-4ed9-a002-7c65e25487df' });
  });
  const token = encodeStreamingToken(SERVER, AT, 17);
  const rejected: [string, string, number][] = [
    ['too short', 'QBX', AT],
    ['a bad header char', `A${token.slice(1)}`, AT],
    ['a bad timestamp char', token.replace('BXDX', 'BXAX'), AT],
    ['a position over 255', `PPP${token.slice(3)}`, AT],
    ['expired', token, AT + 30_001],
    ['from the future', token, AT - 30_001],
    ['a payload shorter than its header', 'UUUQB', AT],
    ['a secret of the wrong length', encodeStreamingToken(SERVER.slice(4), AT, 17), AT],
    ['a malformed secret', encodeStreamingToken(`${SERVER.slice(0, 22)}AAAAAAAAAAAAAAAAAAAAAA`, AT, 17), AT],
  ];
  for (const [name, value, now] of rejected) {
    it(`rejects ${name}`, () => assert.equal(decodeStreamingToken(value, now, 30).ok, false));
  }
  it('accepts exactly at the expiry edge', () => assert.equal(decodeStreamingToken(token, AT + 30_000, 30).ok, true));
});
