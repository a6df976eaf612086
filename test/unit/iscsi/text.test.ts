import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeText, encodeText, TextAccumulator, TextError, splitText } from '../../../src/iscsi/text.js';

test('decodeText: RFC 7143 login example pairs', () => {
  const data = Buffer.from('InitiatorName=iqn.1993-08.org.debian:01:abc\0AuthMethod=CHAP,None\0', 'utf8');
  assert.deepEqual(decodeText(data), [
    { key: 'InitiatorName', value: 'iqn.1993-08.org.debian:01:abc' },
    { key: 'AuthMethod', value: 'CHAP,None' },
  ]);
});

test('decodeText: tolerates padding NULs and a missing final NUL', () => {
  assert.deepEqual(decodeText(Buffer.from('A=1\0\0\0B=2', 'utf8')), [
    { key: 'A', value: '1' },
    { key: 'B', value: '2' },
  ]);
  assert.deepEqual(decodeText(Buffer.alloc(0)), []);
});

test('decodeText: empty value is allowed', () => {
  assert.deepEqual(decodeText(Buffer.from('TargetAlias=\0')), [{ key: 'TargetAlias', value: '' }]);
});

test('decodeText: malformed entries throw TextError', () => {
  for (const s of ['novalue\0', '=x\0', 'bad key=1\0', `${'K'.repeat(64)}=1\0`, `A=${'v'.repeat(256)}\0`, 'A=1\0A=2\0']) {
    assert.throws(() => decodeText(Buffer.from(s)), TextError, s.slice(0, 20));
  }
});

test('decodeText: key of 63 characters and value of 255 are accepted; long CHAP_C too', () => {
  const k = 'K'.repeat(63);
  assert.equal(decodeText(Buffer.from(`${k}=${'v'.repeat(255)}\0`))[0]?.key, k);
  const c = `0x${'ab'.repeat(1024)}`;
  assert.equal(decodeText(Buffer.from(`CHAP_C=${c}\0`))[0]?.value, c);
});

test('decodeText: total size limit', () => {
  const big = Buffer.alloc(70000, 0x41);
  assert.throws(() => decodeText(big), TextError);
});

test('encodeText: tuples and pairs round trip', () => {
  const b = encodeText([
    ['HeaderDigest', 'None'],
    ['MaxRecvDataSegmentLength', '262144'],
  ]);
  assert.equal(b.toString('latin1'), 'HeaderDigest=None\0MaxRecvDataSegmentLength=262144\0');
  assert.deepEqual(decodeText(encodeText(decodeText(b))), decodeText(b));
});

test('TextAccumulator: continued text split mid-pair', () => {
  const full = Buffer.from('SendTargets=All\0InitiatorAlias=host\0');
  for (let cut = 0; cut <= full.length; cut++) {
    const acc = new TextAccumulator();
    const first = Buffer.from(full.subarray(0, cut));
    assert.equal(acc.push(first, true), null);
    first.fill(0x7a); // caller reuses its buffer: the accumulator must have copied
    assert.equal(acc.pending || cut === 0, true);
    const r = acc.push(full.subarray(cut), false);
    assert.deepEqual(r, [
      { key: 'SendTargets', value: 'All' },
      { key: 'InitiatorAlias', value: 'host' },
    ]);
    assert.equal(acc.pending, false);
  }
});

test('TextAccumulator: total limit across continued PDUs', () => {
  const acc = new TextAccumulator({ maxTotalBytes: 100, maxKeyLength: 63, maxValueLength: 255 });
  assert.equal(acc.push(Buffer.alloc(60, 0x41), true), null);
  assert.throws(() => acc.push(Buffer.alloc(60, 0x41), true), TextError);
  assert.equal(acc.pending, false);
});

test('splitText: chunks of at most N bytes that join back', () => {
  const b = Buffer.from('x'.repeat(1000));
  const parts = splitText(b, 300);
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.length <= 300));
  assert.deepEqual(Buffer.concat(parts), b);
  assert.equal(splitText(b, 1000).length, 1);
});

import fc from 'fast-check';

test('property: encodeText/decodeText round trip and arbitrary bytes only throw TextError', () => {
  const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.\-+@_]{0,62}$/);
  const value = fc.string({ maxLength: 255 }).filter((v) => !v.includes('\0') && Buffer.byteLength(v) === v.length);
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: (t) => t[0], maxLength: 20 }), (pairs) => {
      const back = decodeText(encodeText(pairs));
      assert.deepEqual(
        back.map((p) => [p.key, p.value]),
        pairs,
      );
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (a) => {
      try {
        decodeText(Buffer.from(a));
      } catch (e) {
        assert.ok(e instanceof TextError);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: continued text at random cut points equals the whole text', () => {
  const full = encodeText([
    ['InitiatorName', 'iqn.1993-08.org.debian:01:abcdef'],
    ['SessionType', 'Normal'],
    ['TargetName', 'iqn.2003-01.org.example:t'],
  ]);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: full.length - 1 }), { maxLength: 6 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), full.length];
      const acc = new TextAccumulator();
      let out = null;
      for (let i = 0; i + 1 < points.length; i++) out = acc.push(full.subarray(points[i], points[i + 1]), i + 2 < points.length);
      assert.deepEqual(out, decodeText(full));
    }),
    { numRuns: 200 },
  );
});
