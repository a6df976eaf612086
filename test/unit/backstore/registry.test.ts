import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createBackstoreProvider } from '../../../src/backstore/registry.js';
import { GatewayError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';

test('file (default) provider is created under data_dir with the default pool', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'registry-'));
  const p = await createBackstoreProvider({ backstore: 'file', data_dir: dir, pool: 'mypool' }, silentLogger());
  assert.equal(p.kind, 'file');
  assert.deepEqual(await p.listPools(), ['mypool']);
  await p.close();
});

test('memory provider loads through the dynamic import', async () => {
  const p = await createBackstoreProvider({ backstore: 'memory', data_dir: '/unused' }, silentLogger());
  assert.equal(p.kind, 'memory');
  assert.deepEqual(await p.listPools(), ['rbd']);
  await p.createImage('rbd', 'x', 1 << 20);
  assert.equal(await p.imageSize('rbd', 'x'), 1 << 20);
  await p.close();
});

test('rbd: loaded through the dynamic import; a missing ceph.conf is a clear ERR_BACKSTORE_NOT_FOUND naming it', async () => {
  await assert.rejects(
    createBackstoreProvider({ backstore: 'rbd', data_dir: '/unused', ceph_config_dir: '/nonexistent-ceph', cluster_name: 'ceph' }, silentLogger()),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BACKSTORE_NOT_FOUND' && /\/nonexistent-ceph\/ceph\.conf not found/.test(e.message),
  );
});

test('rbd: a library that cannot be loaded names the Debian package to install', async () => {
  const { loadLib } = await import('../../../src/backstore/rbd/librbd.js');
  const { createRequire } = await import('node:module');
  const koffi = createRequire(import.meta.url)('koffi') as Parameters<typeof loadLib>[0];
  assert.throws(
    () => loadLib(koffi, 'librados-missing.so.2', 'librados2'),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BACKSTORE_NOT_SUPPORTED' && /install the Debian package librados2/.test(e.message),
  );
});

test('unknown backstore kind → ERR_BACKSTORE_NOT_SUPPORTED naming it', async () => {
  await assert.rejects(
    createBackstoreProvider({ backstore: 'nfs', data_dir: '/unused' }, silentLogger()),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BACKSTORE_NOT_SUPPORTED' && /"nfs"/.test(e.message),
  );
});
