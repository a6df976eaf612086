import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, POOL_MIN, POOL_SMALLEST } from '../../../src/util/buffer-pool.js';

test('acquire gives exactly n bytes; a released backing store is reused for the same size class', () => {
  const pool = new BufferPool(8 * 1024 * 1024);
  const a = pool.acquire(1024 * 1024);
  assert.equal(a.length, 1024 * 1024);
  assert.equal(a.buffer.byteLength, 1024 * 1024);
  const ab = a.buffer;
  pool.release(a);
  assert.equal(pool.keptBytes, 1024 * 1024);
  const b = pool.acquire(768 * 1024); // same class (1 MiB)
  assert.equal(b.buffer, ab);
  assert.equal(b.length, 768 * 1024);
  assert.equal(pool.keptBytes, 0);
  const c = pool.acquire(768 * 1024); // the pool is empty: a new one
  assert.notEqual(c.buffer, ab);
});

test('small, huge and foreign buffers are not pooled; the cap bounds what is kept; double release keeps one', () => {
  const pool = new BufferPool(2 * 1024 * 1024);
  const small = pool.acquire(POOL_SMALLEST - 1);
  pool.release(small);
  assert.equal(pool.keptBytes, 0);
  const fourK = pool.acquire(POOL_SMALLEST);
  pool.release(fourK); // the smallest class is pooled
  assert.equal(pool.keptBytes, POOL_SMALLEST);
  assert.equal(pool.acquire(POOL_SMALLEST).buffer, fourK.buffer);
  assert.ok(POOL_SMALLEST < POOL_MIN);
  pool.release(Buffer.alloc(1024 * 1024)); // not from acquire(): ignored
  assert.equal(pool.keptBytes, 0);
  const v = pool.acquire(1024 * 1024);
  assert.ok(pool.owns(v.subarray(0, 512)));
  pool.release(v.subarray(0, 4096)); // a view of a lent buffer releases it
  assert.equal(pool.keptBytes, 1024 * 1024);
  assert.ok(!pool.owns(v));
  assert.equal(pool.acquire(1024 * 1024).buffer, v.buffer);
  const x = pool.acquire(1024 * 1024);
  const y = pool.acquire(1024 * 1024);
  const z = pool.acquire(1024 * 1024);
  pool.release(x);
  pool.release(x);
  assert.equal(pool.keptBytes, 1024 * 1024);
  pool.release(y);
  pool.release(z); // over the 2 MiB cap: dropped
  assert.equal(pool.keptBytes, 2 * 1024 * 1024);
  const big = pool.acquire(32 * 1024 * 1024);
  assert.equal(big.length, 32 * 1024 * 1024);
  pool.release(big);
  assert.equal(pool.keptBytes, 2 * 1024 * 1024);
});
