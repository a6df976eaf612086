// GET /api/cluster (ours: gwcli's /cluster node) and the size/snapshots of GET /api/disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBackstoreProvider } from '../../../src/backstore/file-provider.js';
import type { BackstoreProvider, ClusterInfo } from '../../../src/backstore/backstore.js';
import { MemoryProvider } from '../../../src/backstore/memory.js';
import { makeHarness } from './helpers.js';

interface View { name: string; backstore: string; health: string; checks: string[]; topology: Record<string, number>; pools: Array<{ name: string; replication: string; committed_bytes: number; used_bytes: number; capacity_bytes: number }> }

test('GET /api/cluster on the file backstore: pools are data_dir directories with their filesystem figures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-api-'));
  const backstore = new FileBackstoreProvider({ dataDir: dir });
  await backstore.init();
  const h = makeHarness({ backstore });
  try {
    await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'create', size: '1G' } });
    const r = await h.call('GET', '/api/cluster');
    assert.equal(r.statusCode, 200);
    const v = r.json<View>();
    assert.equal(v.name, 'ceph');
    assert.equal(v.backstore, 'file');
    assert.match(v.health, /^HEALTH_(OK|WARN|ERR)$/);
    assert.equal(v.health === 'HEALTH_OK', v.checks.length === 0, `checks explain a non-OK health: ${JSON.stringify(v.checks)}`);
    assert.deepEqual(v.topology, { Filesystems: 1 });
    assert.equal(v.pools.length, 1);
    const p = v.pools[0]!;
    assert.deepEqual([p.name, p.replication, p.committed_bytes], ['rbd', 'x1', 1024 ** 3]);
    assert.ok(p.capacity_bytes > 0);
    assert.deepEqual((p as unknown as { images: string[] }).images, ['disk_1']);
    assert.ok(p.used_bytes < 1024 * 1024, 'a new sparse image uses (almost) nothing');
    // /api/disk reports the image's size and snapshots
    await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'create' } });
    const d = (await h.call('GET', '/api/disk/rbd/disk_1')).json<{ size: number; snapshots: string[] }>();
    assert.equal(d.size, 1024 ** 3);
    assert.deepEqual(d.snapshots, ['s1']);
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GET /api/cluster: a provider health, EC pools, and a pool that fails to stat makes it HEALTH_WARN', async () => {
  const mem = new MemoryProvider({ pools: ['rbd', 'ec', 'broken'] });
  const provider: BackstoreProvider = Object.assign(Object.create(mem) as MemoryProvider, {
    clusterInfo: (): Promise<ClusterInfo> => Promise.resolve({ health: 'HEALTH_OK', checks: [], topology: { OSDs: 3, MONs: 3 }, version: '16.2.15' }),
    poolStats: async (pool: string) => {
      if (pool === 'broken') throw new Error('pool broken: I/O error');
      const s = await mem.poolStats(pool);
      return pool === 'ec' ? { ...s, replicas: 3, ec: { k: 2, m: 1 } } : { ...s, replicas: 3 };
    },
  });
  const h = makeHarness({ backstore: provider });
  try {
    const v = (await h.call('GET', '/api/cluster')).json<View & { version: string }>();
    assert.equal(v.health, 'HEALTH_WARN');
    assert.deepEqual(v.checks, ['pool broken: pool broken: I/O error']);
    assert.deepEqual(v.topology, { OSDs: 3, MONs: 3 });
    assert.equal(v.version, '16.2.15');
    assert.deepEqual(v.pools.map((p) => [p.name, p.replication]).sort(), [['ec', '2+1'], ['rbd', 'x3']]);
  } finally {
    await h.close();
  }
});

test('GET /api/cluster: storage that does not answer is HEALTH_ERR with the reason, not a 500', async () => {
  const mem = new MemoryProvider({ pools: ['rbd'] });
  const provider: BackstoreProvider = Object.assign(Object.create(mem) as MemoryProvider, {
    clusterInfo: (): Promise<ClusterInfo> => Promise.reject(new Error('mon command timed out')),
  });
  const h = makeHarness({ backstore: provider });
  try {
    const r = await h.call('GET', '/api/cluster');
    assert.equal(r.statusCode, 200);
    const v = r.json<View>();
    assert.deepEqual([v.health, v.checks, v.pools], ['HEALTH_ERR', ['storage unreachable: mon command timed out'], []]);
  } finally {
    await h.close();
  }
});
