import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_BUFFER, hexdump, pad4, padLength, readUInt24BE, writeUInt24BE } from '../../../src/util/bytes.js';

test('24-bit big-endian read/write', () => {
  const b = Buffer.alloc(5);
  assert.equal(writeUInt24BE(b, 0x123456, 1), 4);
  assert.equal(b.toString('hex'), '0012345600');
  assert.equal(readUInt24BE(b, 1), 0x123456);
  writeUInt24BE(b, 0xffffff, 2);
  assert.equal(readUInt24BE(b, 2), 0xffffff);
  assert.throws(() => writeUInt24BE(b, 0x1000000, 0), RangeError);
  assert.throws(() => writeUInt24BE(b, -1, 0), RangeError);
  assert.throws(() => readUInt24BE(b, 3), RangeError);
});

test('padding to 4 bytes', () => {
  const expectPad = [0, 3, 2, 1, 0, 3, 2, 1];
  for (let n = 0; n < 8; n++) {
    assert.equal(padLength(n), expectPad[n]);
    assert.equal(pad4(n), n + (expectPad[n] ?? 0));
  }
  assert.equal(pad4(0xfffffd), 0x1000000);
});

test('hexdump lines, ascii column and truncation', () => {
  const b = Buffer.from('iSCSI\x00\x01\x02 target PDU dump test');
  const out = hexdump(b);
  const lines = out.split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /^00000000  69 53 43 53 49 00 01 02  20 74 61 72 67 65 74 20  \|iSCSI\.\.\. target \|$/);
  assert.match(lines[1] ?? '', /^00000010  /);
  const long = hexdump(Buffer.alloc(100), 32);
  assert.equal(long.split('\n').length, 3);
  assert.match(long, /68 more bytes$/);
  assert.equal(hexdump(EMPTY_BUFFER), '');
});
