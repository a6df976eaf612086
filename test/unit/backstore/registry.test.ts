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

test('rbd without a build of the rbd provider → clear ERR_BACKSTORE_NOT_SUPPORTED', async (t) => {
  try {
    await fsp.access(new URL('../../../src/backstore/rbd/provider.ts', import.meta.url));
    t.skip('an rbd provider exists in this tree');
    return;
  } catch {
    // expected: not built
  }
  await assert.rejects(
    createBackstoreProvider({ backstore: 'rbd', data_dir: '/unused' }, silentLogger()),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BACKSTORE_NOT_SUPPORTED' && e.message === 'rbd backstore is not available in this build',
  );
});

test('unknown backstore kind → ERR_BACKSTORE_NOT_SUPPORTED naming it', async () => {
  await assert.rejects(
    createBackstoreProvider({ backstore: 'nfs', data_dir: '/unused' }, silentLogger()),
    (e: unknown) => e instanceof GatewayError && e.code === 'ERR_BACKSTORE_NOT_SUPPORTED' && /"nfs"/.test(e.message),
  );
});
