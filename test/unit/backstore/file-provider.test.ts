import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileBackstoreProvider } from '../../../src/backstore/file-provider.js';
import { BackstoreError } from '../../../src/backstore/backstore.js';

const MiB = 1 << 20;

async function provider(): Promise<{ p: FileBackstoreProvider; dir: string }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'fileprov-'));
  const p = new FileBackstoreProvider({ dataDir: path.join(dir, 'data'), defaultPool: 'rbd' });
  return { p, dir };
}

function code(c: string) {
  return (e: unknown): boolean => e instanceof BackstoreError && e.code === c;
}

test('init creates data_dir and the default pool; pools are directories, dot-names hidden', async () => {
  const { p, dir } = await provider();
  assert.equal(p.kind, 'file');
  assert.deepEqual(await p.listPools(), ['rbd']);
  assert.ok((await fsp.stat(path.join(dir, 'data', 'rbd'))).isDirectory());
  await fsp.mkdir(path.join(dir, 'data', '.pr'));
  await fsp.writeFile(path.join(dir, 'data', 'gateway.conf'), '{}');
  await p.createPool('pool2');
  assert.deepEqual(await p.listPools(), ['pool2', 'rbd']);
  assert.equal(await p.poolExists('pool2'), true);
  assert.equal(await p.poolExists('nope'), false);
  assert.equal(await p.poolExists('.pr'), false, 'reserved names are not pools');
  assert.equal(await p.poolExists('gateway.conf'), false, 'files are not pools');
  await assert.rejects(p.createPool('pool2'), code('ERR_BACKSTORE_EXISTS'));
  await assert.rejects(p.createPool('.hidden'), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.createPool('../escape'), code('ERR_BACKSTORE_INVALID'));
});

test('createImage makes a sparse file of the size; refuses an existing image and bad names/sizes', async () => {
  const { p, dir } = await provider();
  await p.createImage('rbd', 'disk_1', 1024 * MiB);
  const st = await fsp.stat(path.join(dir, 'data', 'rbd', 'disk_1'));
  assert.equal(st.size, 1024 * MiB);
  assert.ok(st.blocks * 512 < MiB, 'sparse: nothing allocated yet');
  assert.equal(await p.imageSize('rbd', 'disk_1'), 1024 * MiB);
  assert.equal(await p.imageSize('rbd', 'missing'), undefined);
  assert.deepEqual(await p.listImages('rbd'), ['disk_1']);
  await assert.rejects(p.createImage('rbd', 'disk_1', MiB), code('ERR_BACKSTORE_EXISTS'));
  await assert.rejects(p.createImage('nopool', 'x', MiB), code('ERR_BACKSTORE_NOT_FOUND'));
  await assert.rejects(p.createImage('rbd', 'a/b', MiB), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.createImage('rbd', '..', MiB), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.createImage('rbd', '.snap', MiB), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.createImage('rbd', '.', MiB), code('ERR_BACKSTORE_INVALID'));
  // upstream's name rule allows a leading dot for images
  await p.createImage('rbd', '.hidden-disk', MiB);
  assert.equal(await p.imageSize('rbd', '.hidden-disk'), MiB);
  await p.removeImage('rbd', '.hidden-disk');
  // a query with an impossible name answers "no such image" rather than throwing
  assert.equal(await p.imageSize('rbd', '.snap'), undefined);
  assert.equal(await p.imageSize('rbd', '../rbd'), undefined);
  assert.equal(await p.imageSize('.pr', 'x'), undefined);
  await assert.rejects(p.createImage('rbd', 'x', 0), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.createImage('rbd', 'x', 1.5), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.listImages('nopool'), code('ERR_BACKSTORE_NOT_FOUND'));
});

test('open → write → poolStats counts allocated and committed bytes', async () => {
  const { p } = await provider();
  await p.createImage('rbd', 'a', 64 * MiB);
  await p.createImage('rbd', 'b', 32 * MiB);
  const s = await p.open('rbd', 'a');
  assert.equal(s.name, 'rbd/a');
  assert.equal(s.sizeBytes, 64 * MiB);
  await s.write(0, Buffer.alloc(MiB, 1));
  await s.flush();
  const stats = await p.poolStats('rbd');
  assert.equal(stats.name, 'rbd');
  assert.equal(stats.committedBytes, 96 * MiB);
  assert.ok(stats.usedBytes >= MiB && stats.usedBytes < 2 * MiB, `used ${stats.usedBytes}`);
  assert.ok(stats.capacityBytes > stats.usedBytes);
  assert.equal(stats.replicas, 1);
  await s.close();
  await assert.rejects(p.poolStats('nopool'), code('ERR_BACKSTORE_NOT_FOUND'));
  await assert.rejects(p.open('rbd', 'missing'), code('ERR_BACKSTORE_NOT_FOUND'));
});

test('resizeImage and removeImage', async () => {
  const { p } = await provider();
  await p.createImage('rbd', 'a', MiB);
  await p.resizeImage('rbd', 'a', 8 * MiB);
  assert.equal(await p.imageSize('rbd', 'a'), 8 * MiB);
  await assert.rejects(p.resizeImage('rbd', 'zz', MiB), code('ERR_BACKSTORE_NOT_FOUND'));
  await p.removeImage('rbd', 'a');
  assert.equal(await p.imageSize('rbd', 'a'), undefined);
  assert.deepEqual(await p.listImages('rbd'), []);
  await assert.rejects(p.removeImage('rbd', 'a'), code('ERR_BACKSTORE_NOT_FOUND'));
});

test('snapshots: create, list, rollback in place (open store sees it), remove', async () => {
  const { p } = await provider();
  assert.ok(p.snapshot);
  await p.createImage('rbd', 'a', 4 * MiB);
  const s = await p.open('rbd', 'a');
  await s.write(0, Buffer.alloc(4096, 0x11));
  await s.flush();
  await p.snapshot.create('rbd', 'a', 'snap1');
  await assert.rejects(p.snapshot.create('rbd', 'a', 'snap1'), code('ERR_BACKSTORE_EXISTS'));
  await assert.rejects(p.snapshot.create('rbd', 'a', 'bad@name'), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.snapshot.create('rbd', 'a', 'bad/name'), code('ERR_BACKSTORE_INVALID'));
  await assert.rejects(p.snapshot.create('rbd', 'nope', 's'), code('ERR_BACKSTORE_NOT_FOUND'));
  assert.deepEqual(await p.snapshot.list('rbd', 'a'), ['snap1']);
  // snapshots are not images
  assert.deepEqual(await p.listImages('rbd'), ['a']);
  await s.write(0, Buffer.alloc(4096, 0x22));
  await s.flush();
  await p.snapshot.rollback('rbd', 'a', 'snap1');
  const b = Buffer.alloc(4096);
  await s.read(0, b);
  assert.ok(b.every((x) => x === 0x11), 'the open store reads the rolled-back data');
  await assert.rejects(p.snapshot.rollback('rbd', 'a', 'nosnap'), code('ERR_BACKSTORE_NOT_FOUND'));
  await p.snapshot.remove('rbd', 'a', 'snap1');
  assert.deepEqual(await p.snapshot.list('rbd', 'a'), []);
  await assert.rejects(p.snapshot.remove('rbd', 'a', 'snap1'), code('ERR_BACKSTORE_NOT_FOUND'));
  await s.close();
});

test('removing an image removes its snapshots', async () => {
  const { p, dir } = await provider();
  await p.createImage('rbd', 'a', MiB);
  await p.createImage('rbd', 'ab', MiB);
  await p.snapshot!.create('rbd', 'a', 's1');
  await p.snapshot!.create('rbd', 'ab', 's1');
  await p.removeImage('rbd', 'a');
  const left = (await fsp.readdir(path.join(dir, 'data', 'rbd', '.snap'))).filter((n) => n !== '.tmp');
  assert.deepEqual(left, ['ab@s1']);
  // names that look like temp files or belong to a dot-image stay apart
  await p.createImage('rbd', '.ab', MiB);
  await p.snapshot!.create('rbd', 'ab', 'x.tmp-1-2');
  await p.snapshot!.create('rbd', '.ab', 's2');
  assert.deepEqual(await p.snapshot!.list('rbd', 'ab'), ['s1', 'x.tmp-1-2']);
  assert.deepEqual(await p.snapshot!.list('rbd', '.ab'), ['s2']);
  assert.deepEqual(await fsp.readdir(path.join(dir, 'data', 'rbd', '.snap', '.tmp')), [], 'no temp copies left');
});

test('a snapshot keeps holes (sparse copy)', async () => {
  const { p, dir } = await provider();
  await p.createImage('rbd', 'big', 256 * MiB);
  const s = await p.open('rbd', 'big');
  await s.write(128 * MiB, Buffer.alloc(4096, 7));
  await s.close();
  await p.snapshot!.create('rbd', 'big', 's');
  const st = await fsp.stat(path.join(dir, 'data', 'rbd', '.snap', 'big@s'));
  assert.equal(st.size, 256 * MiB);
  assert.ok(st.blocks * 512 < 4 * MiB, `snapshot is sparse (${st.blocks * 512} bytes allocated)`);
});
