import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snAdd, snDiff, snGt, snGte, snInWindow, snLt, snLte } from '../../../src/util/serial.js';

test('RFC 1982 comparisons around the wrap', () => {
  const lt: [number, number][] = [
    [0, 1],
    [1, 0x7fffffff],
    [0xffffffff, 0],
    [0xfffffff0, 0x10],
    [0x80000000, 0xffffffff],
    [0x7fffffff, 0x80000000],
  ];
  for (const [a, b] of lt) {
    assert.equal(snLt(a, b), true, `${a} < ${b}`);
    assert.equal(snGt(b, a), true, `${b} > ${a}`);
    assert.equal(snGt(a, b), false);
    assert.equal(snLt(b, a), false);
    assert.equal(snLte(a, b), true);
    assert.equal(snGte(b, a), true);
    assert.equal(snGte(a, b), false);
  }
  for (const a of [0, 5, 0x80000000, 0xffffffff]) {
    assert.equal(snLt(a, a), false);
    assert.equal(snGt(a, a), false);
    assert.equal(snLte(a, a), true);
    assert.equal(snGte(a, a), true);
  }
});

test('pairs exactly 2^31 apart are neither less nor greater (RFC 1982 §3.2 undefined)', () => {
  for (const [a, b] of [
    [0, 0x80000000],
    [0x80000000, 0],
    [5, 0x80000005],
  ] as const) {
    assert.equal(snLt(a, b), false);
    assert.equal(snGt(a, b), false);
  }
});

test('values are taken modulo 2^32 (negative / int32 inputs)', () => {
  assert.equal(snLt(-1, 0), true); // -1 is 0xffffffff
  assert.equal(snLte(-1, 0xffffffff), true);
  assert.equal(snGte(0xffffffff, -1), true);
});

test('snAdd wraps and refuses addends outside 0..2^31-1', () => {
  assert.equal(snAdd(0xffffffff, 1), 0);
  assert.equal(snAdd(0xfffffff0, 0x20), 0x10);
  assert.equal(snAdd(7, 0), 7);
  assert.equal(snAdd(0, 0x7fffffff), 0x7fffffff);
  assert.throws(() => snAdd(0, 0x80000000), RangeError);
  assert.throws(() => snAdd(0, -1), RangeError);
  assert.throws(() => snAdd(0, 0.5), RangeError);
});

test('snDiff and snInWindow (CmdSN window across the wrap)', () => {
  assert.equal(snDiff(0xfffffffe, 2), 4);
  assert.equal(snDiff(5, 5), 0);
  const exp = 0xfffffffe;
  const max = snAdd(exp, 31);
  assert.equal(snInWindow(exp, exp, max), true);
  assert.equal(snInWindow(0, exp, max), true);
  assert.equal(snInWindow(max, exp, max), true);
  assert.equal(snInWindow(snAdd(max, 1), exp, max), false);
  assert.equal(snInWindow(exp - 1, exp, max), false);
});
