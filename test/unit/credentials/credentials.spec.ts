import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { generateConnectionToken } from '@featbit/node-server-sdk';
import { decodeCompactGuid, encodeCompactGuid } from '../../../src/credentials/compact-guid.js';
import { parseEnvSecret } from '../../../src/credentials/env-secret.js';
import { decodeStreamingToken, encodeStreamingToken } from '../../../src/credentials/streaming-token.js';

// Vectors from protocol.md §1 and §12.
const ENV = '0f3c2a91-6b7d-4e58-a1c4-93d2e8f7b605';
const ENV_COMPACT = 'kSo8D31rWE6hxJPS6Pe2BQ';
const SERVER = 'KksefcOVYE-KK8HT5fcIGQkSo8D31rWE6hxJPS6Pe2BQ';
const CLIENT = 'uMak4j8dW0qcfQ4fKjtMXQkSo8D31rWE6hxJPS6Pe2BQ';
const AT = Date.parse('2026-01-01T00:00:00.123Z');
const SERVER_TOKEN = 'QBXBSKksefcOVYE-KK8HT5BXDXWWHDQQBWSfcIGQkSo8D31rWE6hxJPS6Pe2BQ';
const CLIENT_TOKEN = 'QSQBSuMak4j8dW0qcfQ4fKjtMXQkSo8D31rBXDXWWHDQQBWSWE6hxJPS6Pe2BQ';
// From the ELS test suite: a 15-character timestamp code (two leading Q) at position 23.
const ELS_TOKEN = 'QWSBHgpnOV3wI3kKAO9q9viC0wQWQQBDDDQBZWPXDQSdKZrVAf2U6gAnxl4lSH3w';
const ELS_SECRET = 'gpnOV3wI3kKAO9q9viC0wQWdKZrVAf2U6gAnxl4lSH3w';
const ELS_AT = 1666018247603;
const ELS_ENV = 'ad99d259-1f50-4ed9-a002-7c65e25487df';
const ZERO_COMPACT = 'AAAAAAAAAAAAAAAAAAAAAA';
const EXPIRY = 30;

describe('compact GUID (protocol §1.1)', () => {
  const pairs: [guid: string, compact: string][] = [
    [ENV, ENV_COMPACT],
    [ELS_ENV, 'WdKZrVAf2U6gAnxl4lSH3w'],
    ['00000000-0000-0000-0000-000000000000', ZERO_COMPACT],
    ['ffffffff-ffff-ffff-ffff-ffffffffffff', '_____________________w'],
    ['00010203-0405-0607-0809-0a0b0c0d0e0f', 'AwIBAAUEBwYICQoLDA0ODw'],
  ];
  for (const [guid, compact] of pairs) {
    it(`encodes ${guid} as ${compact}`, () => assert.equal(encodeCompactGuid(guid), compact));
    it(`decodes ${compact} to ${guid}`, () => assert.equal(decodeCompactGuid(compact), guid));
  }

  it('uses .NET mixed-endian byte order, not RFC 4122 order', () => {
    const dotNetOrder = Buffer.from('912a3c0f7d6b584ea1c493d2e8f7b605', 'hex');
    assert.equal(dotNetOrder.toString('base64url'), ENV_COMPACT);
  });

  it('accepts an upper-case GUID and decodes to lower case', () => {
    assert.equal(encodeCompactGuid(ENV.toUpperCase()), ENV_COMPACT);
  });

  it('uses - and _ in place of + and /', () => {
    // Bytes 0xfb 0xff … encode to "-_" in URL-safe base64.
    const compact = encodeCompactGuid('fffffffb-ffff-ffff-ffff-ffffffffffff');
    assert.equal(compact, `-${'_'.repeat(20)}w`);
    assert.equal(decodeCompactGuid(compact), 'fffffffb-ffff-ffff-ffff-ffffffffffff');
  });

  const invalid: [name: string, value: string][] = [
    ['empty', ''],
    ['21 characters', ENV_COMPACT.slice(1)],
    ['23 characters', `${ENV_COMPACT}A`],
    ['standard base64 "+"', `+${ENV_COMPACT.slice(1)}`],
    ['standard base64 "/"', `/${ENV_COMPACT.slice(1)}`],
    ['padding "="', `${ENV_COMPACT.slice(0, 20)}==`],
    ['a bad character', `${ENV_COMPACT.slice(0, 21)}!`],
    ['whitespace', ` ${ENV_COMPACT.slice(1)}`],
  ];
  for (const [name, value] of invalid) {
    it(`decode rejects ${name}`, () => assert.equal(decodeCompactGuid(value), null));
  }

  for (const bad of ['', 'not-a-guid', `${ENV}0`, ENV.replace(/-/g, ''), `{${ENV}}`]) {
    it(`encode throws on ${JSON.stringify(bad)}`, () => assert.throws(() => encodeCompactGuid(bad), RangeError));
  }
});

describe('environment secret (protocol §1.2)', () => {
  const valid: [name: string, secret: string, envId: string][] = [
    ['the example server secret', SERVER, ENV],
    ['the example client secret', CLIENT, ENV],
    ['the ELS secret', ELS_SECRET, ELS_ENV],
  ];
  for (const [name, secret, envId] of valid) {
    it(`recovers the env id of ${name}`, () => assert.deepEqual(parseEnvSecret(secret), { envId }));
  }

  const invalid: [name: string, secret: string | undefined][] = [
    ['undefined', undefined],
    ['empty', ''],
    ['blank (44 spaces)', ' '.repeat(44)],
    ['43 characters', SERVER.slice(1)],
    ['45 characters', `${SERVER}A`],
    ['an all-zero env id', `${SERVER.slice(0, 22)}${ZERO_COMPACT}`],
    ['bad characters in the env id', `${SERVER.slice(0, 22)}${'!'.repeat(22)}`],
    ['a padded env id', `${SERVER.slice(0, 24)}${ENV_COMPACT.slice(0, 18)}==`],
  ];
  for (const [name, secret] of invalid) {
    it(`rejects ${name}`, () => assert.equal(parseEnvSecret(secret), null));
  }
});

describe('streaming token (protocol §1.4)', () => {
  describe('encoding as the SDKs do', () => {
    const built: [name: string, secret: string, at: number, start: number, token: string][] = [
      ['the §12 server token', SERVER, AT, 17, SERVER_TOKEN],
      ['the §12 client token', CLIENT, AT, 30, CLIENT_TOKEN],
    ];
    for (const [name, secret, at, start, token] of built) {
      it(`builds ${name}`, () => assert.equal(encodeStreamingToken(secret, at, start), token));
    }

    it('clamps start to at least 2', () => {
      assert.equal(encodeStreamingToken(SERVER, AT, 0), encodeStreamingToken(SERVER, AT, 2));
    });

    it('strips trailing "=" from the secret', () => {
      assert.equal(encodeStreamingToken(`${SERVER}==`, AT, 17), SERVER_TOKEN);
    });

    for (const [name, at, start] of [['a negative timestamp', -1, 17], ['a fractional timestamp', 1.5, 17], ['a fractional start', AT, 2.5]] as const) {
      it(`throws on ${name}`, () => assert.throws(() => encodeStreamingToken(SERVER, at, start), RangeError));
    }

    describe('matches @featbit/node-server-sdk generateConnectionToken', () => {
      beforeEach(() => mock.timers.enable({ apis: ['Date'], now: AT }));
      afterEach(() => {
        mock.timers.reset();
        mock.restoreAll();
      });
      for (const random of [0, 0.3, 0.5, 0.999]) {
        it(`with Math.random() = ${random}`, () => {
          mock.method(Math, 'random', () => random);
          const start = Math.max(Math.floor(random * SERVER.length), 2);
          const sdkToken = generateConnectionToken(SERVER);
          assert.equal(sdkToken, encodeStreamingToken(SERVER, AT, start));
          assert.deepEqual(decodeStreamingToken(sdkToken, AT, EXPIRY), { ok: true, secret: SERVER, timestamp: AT });
        });
      }
    });
  });

  describe('decoding', () => {
    const accepted: [name: string, token: string, now: number, secret: string, timestamp: number][] = [
      ['the §12 server token', SERVER_TOKEN, AT, SERVER, AT],
      ['the §12 client token', CLIENT_TOKEN, AT, CLIENT, AT],
      ['the ELS vector', ELS_TOKEN, ELS_AT, ELS_SECRET, ELS_AT],
      ['a token 30 s old (edge)', SERVER_TOKEN, AT + 30_000, SERVER, AT],
      ['a token 30 s in the future (edge)', SERVER_TOKEN, AT - 30_000, SERVER, AT],
      ['a blank position span, which decodes to 0 (reference quirk)', `   BS${encodeDigitsForTest(AT)}${SERVER}`, AT, SERVER, AT],
      ['a position span of .NET-only whitespace (U+0085)', `\u0085\u0085\u0085BS${encodeDigitsForTest(AT)}${SERVER}`, AT, SERVER, AT],
    ];
    for (const [name, token, now, secret, timestamp] of accepted) {
      it(`accepts ${name}`, () => assert.deepEqual(decodeStreamingToken(token, now, EXPIRY), { ok: true, secret, timestamp }));
    }

    it('reads position 23 and length 15 from the ELS vector header', () => {
      assert.equal(ELS_TOKEN.slice(0, 5), 'QWSBH');
      const payload = ELS_TOKEN.slice(5);
      assert.equal(payload.slice(23, 23 + 15), 'QQBDDDQBZWPXDQS');
      assert.deepEqual(parseEnvSecret(ELS_SECRET), { envId: ELS_ENV });
    });

    it('round-trips every split position of a 44-character secret', () => {
      for (let start = 2; start <= 44; start++) {
        const token = encodeStreamingToken(CLIENT, AT, start);
        assert.deepEqual(decodeStreamingToken(token, AT, EXPIRY), { ok: true, secret: CLIENT, timestamp: AT }, `start ${start}`);
      }
    });

    const tsCode = encodeDigitsForTest(AT);
    const rejected: [name: string, token: string, now: number, reason: RegExp][] = [
      ['an empty token', '', AT, /shorter than its header/],
      ['a 4-character token', 'QBXB', AT, /shorter than its header/],
      ['a blank token', ' '.repeat(5), AT, /wrong length/],
      ['a bad character in the position', `A${SERVER_TOKEN.slice(1)}`, AT, /bad character in token header/],
      ['a bad character in the length', `QBXBA${SERVER_TOKEN.slice(5)}`, AT, /bad character in token header/],
      ['a lower-case digit character', `qBXBS${SERVER_TOKEN.slice(5)}`, AT, /bad character in token header/],
      ['a partly blank position', `Q QBS${SERVER_TOKEN.slice(5)}`, AT, /bad character in token header/],
      ['position 255 (in range, but longer than the payload)', `WHHBS${SERVER}${tsCode}`, AT, /payload shorter/],
      ['position 256 (over a byte)', `WHDBS${SERVER}${tsCode}`, AT, /out of range/],
      ['position 999', `UUUBS${SERVER}${tsCode}`, AT, /out of range/],
      ['a payload shorter than position + length', `QBXBS${SERVER.slice(0, 17)}${tsCode.slice(0, 12)}`, AT, /payload shorter/],
      ['a bad character in the timestamp', SERVER_TOKEN.replace('BXDXWW', 'BXAXWW'), AT, /bad character in token timestamp/],
      ['a secret of 40 characters', encodeStreamingToken(SERVER.slice(4), AT, 17), AT, /wrong length/],
      ['a secret of 45 characters', encodeStreamingToken(`A${SERVER}`, AT, 17), AT, /wrong length/],
      // 42 characters are padded with "==" to 44 (rule 5), so they pass the length check and fail rule 7.
      ['a secret of 42 characters (padded to 44)', encodeStreamingToken(SERVER.slice(2), AT, 17), AT, /malformed/],
      ['a secret of 43 characters (padded to 44)', encodeStreamingToken(SERVER.slice(1), AT, 17), AT, /malformed/],
      ['a token 30.001 s old', SERVER_TOKEN, AT + 30_001, /expired/],
      ['a token 30.001 s in the future', SERVER_TOKEN, AT - 30_001, /expired/],
      ['a zero-length timestamp (decodes to 0)', `QBXQQ${SERVER}`, AT, /expired/],
      ['an all-zero env id', encodeStreamingToken(`${SERVER.slice(0, 22)}${ZERO_COMPACT}`, AT, 17), AT, /malformed/],
      ['a bad character in the env id', encodeStreamingToken(`${SERVER.slice(0, 43)}!`, AT, 17), AT, /malformed/],
      ['a blank secret', encodeStreamingToken(' '.repeat(44), AT, 17), AT, /malformed/],
    ];
    for (const [name, token, now, reason] of rejected) {
      it(`rejects ${name}`, () => {
        const decoded = decodeStreamingToken(token, now, EXPIRY);
        assert.equal(decoded.ok, false);
        if (!decoded.ok) assert.match(decoded.reason, reason);
      });
    }

    it('honours a different expiry', () => {
      assert.equal(decodeStreamingToken(SERVER_TOKEN, AT + 60_000, 60).ok, true);
      assert.equal(decodeStreamingToken(SERVER_TOKEN, AT + 1, 0).ok, false);
    });
  });
});

/** The digit map of §1.4, written out independently of the code under test. */
function encodeDigitsForTest(value: number): string {
  const map: Record<string, string> = { 0: 'Q', 1: 'B', 2: 'W', 3: 'S', 4: 'P', 5: 'H', 6: 'D', 7: 'X', 8: 'Z', 9: 'U' };
  return [...String(value)].map((digit) => map[digit] ?? '?').join('');
}
