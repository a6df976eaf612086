import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileBackingStore } from '../../../src/backstore/file.js';
import { BackstoreError, type AllocationExtent } from '../../../src/backstore/backstore.js';
import { posix, SEEK_DATA, SEEK_HOLE } from '../../../src/backstore/posix.js';

const MiB = 1 << 20;
const BLK = 4096;

async function tmpImage(size: number, root: string = os.tmpdir()): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(root, 'filebs-'));
  const p = path.join(dir, 'img');
  const fh = await fsp.open(p, 'wx');
  await fh.truncate(size);
  await fh.close();
  return p;
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Checks extents are consecutive, cover [offset, offset+length) exactly, and alternate. */
function assertCovers(ext: AllocationExtent[], offset: number, length: number): void {
  let pos = offset;
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i]!;
    assert.equal(e.offset, pos, `extent ${i} starts where the previous ended`);
    assert.ok(e.length > 0, 'no empty extents');
    if (i > 0) assert.notEqual(e.allocated, ext[i - 1]!.allocated, 'adjacent extents differ');
    pos += e.length;
  }
  assert.equal(pos, offset + length);
}

test('posix bindings load on Linux', () => {
  assert.ok(posix(), 'koffi libc bindings available');
});

test('read/write round trip at unaligned offsets; holes read as zeroes', async () => {
  const p = await tmpImage(4 * MiB);
  const s = await FileBackingStore.open(p, { name: 'rbd/img' });
  assert.equal(s.name, 'rbd/img');
  assert.equal(s.sizeBytes, 4 * MiB);
  const data = pattern(10_000, 3);
  await s.write(12_345, data);
  const back = Buffer.alloc(10_000);
  await s.read(12_345, back);
  assert.deepEqual(back, data);
  const hole = Buffer.alloc(8192, 0xaa);
  await s.read(2 * MiB, hole);
  assert.ok(hole.every((b) => b === 0));
  await s.write(0, data, true); // fua
  await s.flush();
  await s.close();
  await s.close(); // idempotent
});

test('read into a caller buffer view fills exactly that view', async () => {
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p);
  await s.write(0, pattern(4096, 9));
  const big = Buffer.alloc(8192, 0xee);
  await s.read(0, big.subarray(1024, 1024 + 4096));
  assert.ok(big.subarray(0, 1024).every((b) => b === 0xee));
  assert.deepEqual(big.subarray(1024, 5120), pattern(4096, 9));
  assert.ok(big.subarray(5120).every((b) => b === 0xee));
  await s.close();
});

test('discard punches a hole: data reads back as zero and the range is reported unmapped', async () => {
  const p = await tmpImage(4 * MiB);
  const s = await FileBackingStore.open(p);
  assert.ok(s.discard && s.mapAllocation);
  await s.write(0, pattern(2 * MiB, 1));
  const before = (await fsp.stat(p)).blocks;
  await s.discard(MiB, 512 * 1024);
  const after = (await fsp.stat(p)).blocks;
  assert.ok(after < before, `allocated blocks shrink (${before} -> ${after})`);
  const back = Buffer.alloc(512 * 1024, 1);
  await s.read(MiB, back);
  assert.ok(back.every((b) => b === 0));
  const ext = await s.mapAllocation(0, 4 * MiB);
  assertCovers(ext, 0, 4 * MiB);
  assert.deepEqual(ext, [
    { offset: 0, length: MiB, allocated: true },
    { offset: MiB, length: 512 * 1024, allocated: false },
    { offset: MiB + 512 * 1024, length: 512 * 1024, allocated: true },
    { offset: 2 * MiB, length: 2 * MiB, allocated: false },
  ]);
  // data around the hole is intact
  const edge = Buffer.alloc(4096);
  await s.read(MiB - 4096, edge);
  assert.deepEqual(edge, pattern(2 * MiB, 1).subarray(MiB - 4096, MiB));
  // the file size is kept (FALLOC_FL_KEEP_SIZE)
  assert.equal((await fsp.stat(p)).size, 4 * MiB);
  await s.close();
});

test('mapAllocation of sub-ranges clips extents to the range', async () => {
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p);
  await s.write(64 * 1024, pattern(8192, 2));
  assert.deepEqual(await s.mapAllocation!(65536 + 4096, 100_000), [
    { offset: 65536 + 4096, length: 4096, allocated: true },
    { offset: 65536 + 8192, length: 100_000 - 4096, allocated: false },
  ]);
  assert.deepEqual(await s.mapAllocation!(0, 4096), [{ offset: 0, length: 4096, allocated: false }]);
  assert.deepEqual(await s.mapAllocation!(0, 0), []);
  await s.close();
});

async function modelCheck(root: string): Promise<void> {
  const blocks = 512;
  const p = await tmpImage(blocks * BLK, root);
  const s = await FileBackingStore.open(p);
  const model = new Array<boolean>(blocks).fill(false);
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 200; i++) {
    const start = rnd(blocks);
    const count = 1 + rnd(Math.min(16, blocks - start));
    if (rnd(3) === 0) {
      await s.discard!(start * BLK, count * BLK);
      for (let b = start; b < start + count; b++) model[b] = false;
    } else {
      await s.write(start * BLK, pattern(count * BLK, i));
      for (let b = start; b < start + count; b++) model[b] = true;
    }
  }
  const ext = await s.mapAllocation!(0, blocks * BLK);
  assertCovers(ext, 0, blocks * BLK);
  const got = new Array<boolean>(blocks).fill(false);
  for (const e of ext) {
    assert.equal(e.offset % BLK, 0);
    assert.equal(e.length % BLK, 0);
    for (let b = e.offset / BLK; b < (e.offset + e.length) / BLK; b++) got[b] = e.allocated;
  }
  assert.deepEqual(got, model);
  // sub-ranges agree too (FIEMAP batches start mid-extent)
  for (let i = 0; i < 20; i++) {
    const a = rnd(blocks);
    const n = 1 + rnd(blocks - a);
    const sub = await s.mapAllocation!(a * BLK, n * BLK);
    assertCovers(sub, a * BLK, n * BLK);
    for (const e of sub) {
      for (let b = e.offset / BLK; b < (e.offset + e.length) / BLK; b++) assert.equal(e.allocated, model[b], `block ${b}`);
    }
  }
  await s.close();
  await fsp.rm(path.dirname(p), { recursive: true, force: true });
}

test('mapAllocation agrees with a model after random writes and discards (FIEMAP on ext4/xfs)', async () => {
  await modelCheck(os.tmpdir());
});

test('mapAllocation falls back to SEEK_DATA/SEEK_HOLE where FIEMAP is missing (tmpfs /dev/shm)', async (t) => {
  let fsType = '';
  try {
    fsType = String((await fsp.statfs('/dev/shm')).type);
  } catch {
    t.skip('no /dev/shm');
    return;
  }
  // TMPFS_MAGIC 0x01021994
  if (fsType !== String(0x01021994)) {
    t.skip(`/dev/shm is not tmpfs (${fsType})`);
    return;
  }
  await modelCheck('/dev/shm');
});

test('writeSame repeats the pattern over the range (larger than its 1 MiB batch) and nothing else', async () => {
  const p = await tmpImage(4 * MiB);
  const s = await FileBackingStore.open(p);
  const pat = pattern(512, 77);
  const len = MiB + 3 * 512;
  await s.writeSame(4096, len, pat);
  const back = Buffer.alloc(len + 8192);
  await s.read(0, back);
  assert.ok(back.subarray(0, 4096).every((b) => b === 0));
  for (let off = 4096; off < 4096 + len; off += 512) {
    assert.deepEqual(back.subarray(off, off + 512), pat, `block at ${off}`);
  }
  assert.ok(back.subarray(4096 + len).every((b) => b === 0));
  await s.writeSame(0, 0, pat); // no-op
  await assert.rejects(s.writeSame(0, 512, Buffer.alloc(0)), BackstoreError);
  await s.close();
});

test('resize grows and shrinks the file; reads past the old end are zeroes', async () => {
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p);
  await s.resize(2 * MiB);
  assert.equal(s.sizeBytes, 2 * MiB);
  assert.equal((await fsp.stat(p)).size, 2 * MiB);
  const b = Buffer.alloc(4096, 1);
  await s.read(2 * MiB - 4096, b);
  assert.ok(b.every((x) => x === 0));
  await s.resize(MiB);
  assert.equal((await fsp.stat(p)).size, MiB);
  await assert.rejects(s.resize(-1), (e: unknown) => e instanceof BackstoreError && e.code === 'ERR_BACKSTORE_INVALID');
  // another process grows the file: refreshSize sees it
  await fsp.truncate(p, 3 * MiB);
  assert.equal(await s.refreshSize(), 3 * MiB);
  await s.close();
});

test('a short file reads zeroes past its end (truncated behind our back)', async () => {
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p);
  await s.write(0, pattern(8192, 5));
  await fsp.truncate(p, 4096);
  const b = Buffer.alloc(8192, 0xff);
  await s.read(0, b);
  assert.deepEqual(b.subarray(0, 4096), pattern(8192, 5).subarray(0, 4096));
  assert.ok(b.subarray(4096).every((x) => x === 0));
  await s.close();
});

test('errors: missing file → NOT_FOUND; a directory → INVALID; I/O after close → ERR_BACKSTORE_IO with op', async () => {
  await assert.rejects(FileBackingStore.open('/nonexistent/dir/img'), { code: 'ERR_BACKSTORE_NOT_FOUND' });
  await assert.rejects(FileBackingStore.open(os.tmpdir()), (e: unknown) => e instanceof BackstoreError && (e.code === 'ERR_BACKSTORE_INVALID' || e.code === 'ERR_BACKSTORE_IO'));
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p);
  await s.close();
  await assert.rejects(s.read(0, Buffer.alloc(512)), (e: unknown) => e instanceof BackstoreError && e.code === 'ERR_BACKSTORE_IO' && e.op === 'read');
  await assert.rejects(s.write(0, Buffer.alloc(512)), (e: unknown) => e instanceof BackstoreError && e.code === 'ERR_BACKSTORE_IO' && e.op === 'write');
});

test('close() waits for in-flight I/O; later calls fail cleanly (the fd number is never reused under them)', async () => {
  const p = await tmpImage(4 * MiB);
  const s = await FileBackingStore.open(p);
  await s.write(0, pattern(MiB, 4));
  const bufs = Array.from({ length: 32 }, () => Buffer.alloc(32 * 1024));
  const reads = bufs.map((b, i) => s.read(i * 32 * 1024, b));
  const closing = s.close();
  await Promise.all(reads);
  await closing;
  bufs.forEach((b, i) => assert.deepEqual(b, pattern(MiB, 4).subarray(i * 32 * 1024, (i + 1) * 32 * 1024)));
  await assert.rejects(s.mapAllocation!(0, 4096), { code: 'ERR_BACKSTORE_IO' });
  await assert.rejects(s.discard!(0, 4096), { code: 'ERR_BACKSTORE_IO' });
  await assert.rejects(s.flush(), { code: 'ERR_BACKSTORE_IO' });
});

test('concurrent independent writes and reads at different offsets all land', async () => {
  const p = await tmpImage(8 * MiB);
  const s = await FileBackingStore.open(p);
  await Promise.all(Array.from({ length: 64 }, (_, i) => s.write(i * 128 * 1024, pattern(64 * 1024, i))));
  const outs = Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024));
  await Promise.all(outs.map((b, i) => s.read(i * 128 * 1024, b)));
  outs.forEach((b, i) => assert.deepEqual(b, pattern(64 * 1024, i), `chunk ${i}`));
  await s.close();
});

test('read-only open refuses writes', async () => {
  const p = await tmpImage(MiB);
  const s = await FileBackingStore.open(p, { readOnly: true });
  await assert.rejects(s.write(0, Buffer.alloc(512)), (e: unknown) => e instanceof BackstoreError && e.op === 'write');
  await s.close();
});

test('posix seek: SEEK_DATA past the last data is -1 (ENXIO), SEEK_HOLE at EOF is the size', async () => {
  const sys = posix();
  assert.ok(sys);
  const p = await tmpImage(MiB);
  const fd = fs.openSync(p, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 8192);
    assert.equal(sys.seek(fd, 0, SEEK_DATA), 8192);
    assert.equal(sys.seek(fd, 8192, SEEK_HOLE), 12288);
    assert.equal(sys.seek(fd, 12288, SEEK_DATA), -1);
    assert.equal(sys.seek(fd, 12288, SEEK_HOLE), 12288);
    assert.throws(() => sys.seek(-5, 0, SEEK_DATA), /lseek failed: errno 9/);
    await assert.rejects(sys.punchHole(-5, 0, 4096), /fallocate failed: errno 9/);
  } finally {
    fs.closeSync(fd);
  }
});

test('GET LBA STATUS cost on a fragmented thin image: ~20k scattered 4 KiB writes (timing printed, not asserted)', async () => {
  const extents = 20_000;
  const size = extents * 2 * BLK; // ~160 MiB sparse, every other 4 KiB block written
  const p = await tmpImage(size);
  const fd = fs.openSync(p, 'r+');
  const buf = Buffer.alloc(BLK, 0x5a);
  // Scattered order (stride permutation) so the filesystem sees random writes.
  for (let i = 0; i < extents; i++) {
    const k = (i * 7919) % extents;
    fs.writeSync(fd, buf, 0, BLK, k * 2 * BLK);
  }
  fs.closeSync(fd);
  const s = await FileBackingStore.open(p);
  // warm up
  await s.mapAllocation!(0, MiB);
  const runs = 200;
  const t0 = process.hrtime.bigint();
  let total = 0;
  for (let r = 0; r < runs; r++) {
    const off = ((r * 37) % (size / MiB - 1)) * MiB;
    const ext = await s.mapAllocation!(off, MiB);
    total += ext.length;
    if (r === 0) {
      assertCovers(ext, off, MiB);
      assert.equal(ext.length, MiB / BLK, '1 MiB = 128 alternating 4 KiB extents');
    }
  }
  const perCallUs = Number(process.hrtime.bigint() - t0) / 1000 / runs;
  const whole0 = process.hrtime.bigint();
  const all = await s.mapAllocation!(0, size);
  const wholeMs = Number(process.hrtime.bigint() - whole0) / 1e6;
  assert.equal(all.length, 2 * extents);
  // eslint-disable-next-line no-console
  console.log(`# mapAllocation: ${perCallUs.toFixed(1)} µs per 1 MiB range (${total / runs} extents); whole ${size / MiB} MiB image (${all.length} extents): ${wholeMs.toFixed(1)} ms`);
  await s.close();
});
