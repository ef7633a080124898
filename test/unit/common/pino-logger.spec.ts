import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { PinoNestLogger, createPino } from '../../../src/common/pino-logger.js';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe(PinoNestLogger.name, () => {
  it('writes JSON with the Nest context, structured fields, and masks secrets to 4 characters', () => {
    const { lines, stream } = capture();
    const logger = new PinoNestLogger(createPino({ level: 'debug', pretty: false }, stream));
    logger.log({ msg: 'connected', apiKey: 'rp-MzIxMDA2NTIyNzY3MQG558Sj8tWkuMbX6PmgscLQ', nested: { authorization: 'KksefcOVYE-KK8HT5fcIGQkSo8D31rWE6hxJPS6Pe2BQ' } }, 'UpstreamSync');
    logger.warn('plain text', 'Other');
    logger.error(new Error('boom'), 'Failing');
    logger.debug({ msg: 'already masked', apiKey: 'rp-M…' });
    assert.equal(lines[0]?.['context'], 'UpstreamSync');
    assert.equal(lines[0]?.['msg'], 'connected');
    assert.equal(lines[0]?.['apiKey'], 'rp-M…');
    assert.deepEqual(lines[0]?.['nested'], { authorization: 'Kkse…' });
    assert.deepEqual([lines[1]?.['msg'], lines[1]?.['level']], ['plain text', 40]);
    assert.equal(lines[2]?.['msg'], 'boom');
    assert.equal(lines[3]?.['apiKey'], 'rp-M…');
    assert.ok(!JSON.stringify(lines).includes('MzIxMDA2NTIyNzY3'));
  });

  it('respects the level', () => {
    const { lines, stream } = capture();
    const logger = new PinoNestLogger(createPino({ level: 'warn', pretty: false }, stream));
    logger.log('hidden');
    logger.debug('hidden');
    logger.warn('shown');
    assert.deepEqual(lines.map((l) => l['msg']), ['shown']);
  });
});
