import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cReference, digestBytes, readDigest, writeDigest } from '../../../src/util/crc32c.js';
import { CRC_VECTORS } from '../../vectors/crc32c.js';

for (const v of CRC_VECTORS) {
  test(`RFC 3720 B.4: ${v.name}`, () => {
    assert.equal(digestBytes(crc32c(v.input)).toString('hex'), v.digest.toString('hex'));
    assert.equal(crc32cReference(v.input), readDigest(v.digest, 0));
  });
}

test('seeded CRC over split buffers equals CRC over the whole', () => {
  const buf = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff));
  const whole = crc32c(buf);
  for (const cut of [0, 1, 3, 4, 499, 999, 1000]) {
    assert.equal(crc32c(buf.subarray(cut), crc32c(buf.subarray(0, cut))), whole, `cut ${cut}`);
    assert.equal(crc32cReference(buf.subarray(cut), crc32cReference(buf.subarray(0, cut))), whole, `ref cut ${cut}`);
  }
});

test('native and reference agree on assorted lengths', () => {
  for (let n = 0; n < 70; n++) {
    const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + n) & 0xff));
    assert.equal(crc32c(b), crc32cReference(b), `length ${n}`);
  }
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('digest is written little-endian', () => {
  const b = Buffer.alloc(6);
  assert.equal(writeDigest(b, 0x8a9136aa, 1), 5);
  assert.equal(b.toString('hex'), '00aa36918a00');
  assert.equal(readDigest(b, 1), 0x8a9136aa);
});
