// Unit attention queue, range lock, CDB decoders, memory backstore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackingStore, MemoryProvider } from '../../../src/backstore/memory.js';
import { checkLbaRange, decodeRw16, decodeRw6, readLba64 } from '../../../src/scsi/cdb.js';
import { RangeLock } from '../../../src/scsi/range-lock.js';
import { UnitAttentions } from '../../../src/scsi/unit-attention.js';

test('UnitAttentions: power-on first, dedupe, reset supersedes, all-but-one, cap', () => {
  const ua = new UnitAttentions();
  assert.equal(ua.isKnown('a'), false);
  ua.register('a');
  ua.register('b');
  assert.equal(ua.peek('a'), 'POWER_ON_RESET');
  ua.establish('a', 'CAPACITY_DATA_HAS_CHANGED');
  ua.establish('a', 'CAPACITY_DATA_HAS_CHANGED');
  assert.deepEqual(ua.pending('a'), ['POWER_ON_RESET', 'CAPACITY_DATA_HAS_CHANGED']);
  ua.establish('a', 'BUS_DEVICE_RESET');
  assert.deepEqual(ua.pending('a'), ['BUS_DEVICE_RESET']);
  ua.take('b');
  ua.establishAll('MODE_PARAMETERS_CHANGED', 'a');
  assert.deepEqual(ua.pending('b'), ['MODE_PARAMETERS_CHANGED']);
  assert.deepEqual(ua.pending('a'), ['BUS_DEVICE_RESET']);
  // unknown nexus: starts with power-on only
  ua.establish('c', 'ASYMMETRIC_ACCESS_STATE_CHANGED');
  assert.deepEqual(ua.pending('c'), ['POWER_ON_RESET']);
  const reasons = [
    'MODE_PARAMETERS_CHANGED', 'RESERVATIONS_PREEMPTED', 'RESERVATIONS_RELEASED', 'REGISTRATIONS_PREEMPTED',
    'ASYMMETRIC_ACCESS_STATE_CHANGED', 'CAPACITY_DATA_HAS_CHANGED', 'COMMANDS_CLEARED_BY_ANOTHER_INITIATOR',
    'INQUIRY_DATA_HAS_CHANGED', 'REPORTED_LUNS_DATA_HAS_CHANGED', 'I_T_NEXUS_LOSS', 'MISCOMPARE_DURING_VERIFY',
    'WRITE_PROTECTED', 'LBA_OUT_OF_RANGE', 'INVALID_FIELD_IN_CDB', 'NO_SENSE', 'ABORTED_COMMAND', 'DATA_PHASE_ERROR',
    'WRITE_ERROR',
  ] as const;
  for (const r of reasons) ua.establish('b', r);
  assert.equal(ua.pending('b').length, 8);
  ua.clear('b', 'WRITE_ERROR');
  assert.equal(ua.pending('b').includes('WRITE_ERROR'), false);
  ua.forget('b');
  assert.equal(ua.isKnown('b'), false);
});

test('CDB decoders: READ(6) 0 → 256, 21-bit LBA; 64-bit LBA beyond 2^53 is +Infinity', () => {
  assert.deepEqual(decodeRw6(Buffer.from([0x08, 0xff, 0xff, 0xff, 0x00, 0x00])), { lba: 0x1fffff, blocks: 256 });
  const c = Buffer.alloc(16);
  c.writeBigUInt64BE(0x1f_ffff_ffff_ffffn, 2);
  assert.equal(readLba64(c, 2), 2 ** 53 - 1);
  c.writeBigUInt64BE(0x20_0000_0000_0000n, 2);
  assert.equal(decodeRw16(c).lba, Number.POSITIVE_INFINITY);
  assert.throws(() => checkLbaRange(Number.POSITIVE_INFINITY, 0, 100), /LBA_OUT_OF_RANGE/);
  assert.throws(() => checkLbaRange(101, 0, 100), /LBA_OUT_OF_RANGE/);
  assert.doesNotThrow(() => checkLbaRange(100, 0, 100));
  assert.doesNotThrow(() => checkLbaRange(99, 1, 100));
  assert.throws(() => checkLbaRange(99, 2, 100), /LBA_OUT_OF_RANGE/);
});

test('RangeLock: shared holds are granted at once; exclusive waits for overlapping holders only; FIFO', async () => {
  const lock = new RangeLock();
  const w1 = lock.acquireShared(0, 10);
  assert.equal(typeof w1, 'function');
  const events: string[] = [];
  const ex = lock.acquireExclusive(5, 6).then((rel) => {
    events.push('exclusive');
    return rel;
  });
  // a non-overlapping write is not blocked
  const w2 = lock.acquireShared(20, 30);
  assert.equal(typeof w2, 'function');
  // an overlapping write queued after the exclusive waits for it
  const w3 = lock.acquireShared(4, 8);
  assert.ok(w3 instanceof Promise);
  const w3done = (w3 as Promise<() => void>).then((rel) => {
    events.push('w3');
    return rel;
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, []);
  (w1 as () => void)();
  const relEx = await ex;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['exclusive']);
  relEx();
  (await w3done)();
  assert.deepEqual(events, ['exclusive', 'w3']);
  (w2 as () => void)();
  assert.equal(lock.size, 0);
});

test('MemoryBackingStore: sparse chunks, discard frees whole chunks and zeroes partial ones, mapAllocation', async () => {
  const s = new MemoryBackingStore('p/i', 64 * 1024);
  const buf = Buffer.alloc(10000, 0x5a);
  await s.write(100, buf);
  const back = Buffer.alloc(10000);
  await s.read(100, back);
  assert.deepEqual(back, buf);
  assert.equal(s.allocatedBytes, 3 * 4096);
  await s.discard!(0, 8192);
  assert.equal(s.allocatedBytes, 4096);
  await s.discard!(8192, 100);
  const z = Buffer.alloc(100, 1);
  await s.read(8192, z);
  assert.ok(z.equals(Buffer.alloc(100)));
  const map = await s.mapAllocation!(0, 64 * 1024);
  assert.deepEqual(map, [
    { offset: 0, length: 8192, allocated: false },
    { offset: 8192, length: 4096, allocated: true },
    { offset: 12288, length: 64 * 1024 - 12288, allocated: false },
  ]);
  await assert.rejects(s.read(64 * 1024 - 1, Buffer.alloc(2)), { code: 'ERR_BACKSTORE_INVALID' });
  await s.writeSame(0, 1024, Buffer.alloc(512, 7));
  const ws = Buffer.alloc(1024);
  await s.read(0, ws);
  assert.ok(ws.equals(Buffer.alloc(1024, 7)));
  await s.resize(4096);
  assert.equal(s.sizeBytes, 4096);
  await s.resize(8192);
  const grown = Buffer.alloc(4096, 1);
  await s.read(4096, grown);
  assert.ok(grown.equals(Buffer.alloc(4096)));
  await s.close();
  await assert.rejects(s.read(0, Buffer.alloc(1)), { code: 'ERR_BACKSTORE_IO' });
  const thick = new MemoryBackingStore('p/t', 4096, { thin: false });
  assert.equal(thick.discard, undefined);
  assert.equal(thick.mapAllocation, undefined);
});

test('MemoryBackingStore native compareAndWrite returns the first mismatch offset', async () => {
  const s = new MemoryBackingStore('p/i', 8192, { nativeCompareAndWrite: true });
  await s.write(0, Buffer.alloc(512, 1));
  assert.equal(await s.compareAndWrite!(0, Buffer.alloc(512, 1), Buffer.alloc(512, 2)), -1);
  const cmp = Buffer.alloc(512, 2);
  cmp[77] = 9;
  assert.equal(await s.compareAndWrite!(0, cmp, Buffer.alloc(512, 3)), 77);
});

test('MemoryProvider: pools, images, open shares data, snapshots, errors', async () => {
  const p = new MemoryProvider();
  assert.deepEqual(await p.listPools(), ['rbd']);
  await p.createImage('rbd', 'disk1', 1 << 20);
  await assert.rejects(p.createImage('rbd', 'disk1', 1 << 20), { code: 'ERR_BACKSTORE_EXISTS' });
  await assert.rejects(p.createImage('nope', 'x', 1 << 20), { code: 'ERR_BACKSTORE_NOT_FOUND' });
  assert.equal(await p.imageSize('rbd', 'disk1'), 1 << 20);
  assert.equal(await p.imageSize('rbd', 'missing'), undefined);
  const a = await p.open('rbd', 'disk1');
  const b = await p.open('rbd', 'disk1');
  await a.write(0, Buffer.from('hello'));
  const r = Buffer.alloc(5);
  await b.read(0, r);
  assert.equal(r.toString(), 'hello');
  await p.snapshot.create('rbd', 'disk1', 's1');
  await a.write(0, Buffer.from('HELLO'));
  await p.snapshot.rollback('rbd', 'disk1', 's1');
  await a.read(0, r);
  assert.equal(r.toString(), 'hello');
  await p.resizeImage('rbd', 'disk1', 2 << 20);
  assert.equal(a.sizeBytes, 2 << 20);
  const st = await p.poolStats('rbd');
  assert.equal(st.committedBytes, 2 << 20);
  assert.ok(st.usedBytes > 0);
  // closing a handle does not lose the image: a new open sees the same bytes
  await a.close();
  const c = await p.open('rbd', 'disk1');
  await c.read(0, r);
  assert.equal(r.toString(), 'hello');
  await p.removeImage('rbd', 'disk1');
  assert.deepEqual(await p.listImages('rbd'), []);
});
