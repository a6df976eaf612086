// RbdBackstoreProvider's cluster view from mon command replies (recorded shapes of Ceph 16's
// `osd dump`, `df`, `status`, `mon dump`, `version`, `osd erasure-code-profile get`), without a
// cluster: an erasure-coded pool needs more OSDs than the single-node test cluster has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RbdBackstoreProvider } from '../../../src/backstore/rbd/provider.js';
import { silentLogger } from '../../../src/util/log.js';

const replies: Record<string, unknown> = {
  'osd dump': {
    osds: [{ osd: 0, up: 1, in: 1 }, { osd: 1, up: 0, in: 1 }, { osd: 2, up: 1, in: 1 }],
    pools: [
      { pool: 1, pool_name: 'rbd', size: 3, min_size: 2, type: 1 },
      { pool: 2, pool_name: 'ecdata', size: 3, min_size: 2, type: 3, erasure_code_profile: 'ec21' },
    ],
  },
  df: { pools: [{ name: 'rbd', id: 1, stats: { stored: 1000, bytes_used: 3000, max_avail: 9000 } }] },
  'osd erasure-code-profile get': { k: '2', m: '1', plugin: 'jerasure' },
  status: { health: { status: 'HEALTH_WARN', checks: { OSD_DOWN: { severity: 'HEALTH_WARN', summary: { message: '1 osds down' } } } } },
  'mon dump': { mons: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] },
  version: { version: 'ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)' },
};

function provider(): RbdBackstoreProvider {
  const fake = {
    monJson: async (cmd: { prefix: string }) => {
      if (!(cmd.prefix in replies)) throw new Error(`unexpected mon command ${cmd.prefix}`);
      return replies[cmd.prefix];
    },
    // no images in these pools (listImages goes through an ioctx)
    ioctx: async () => {
      throw new Error('no I/O in this test');
    },
  };
  return new RbdBackstoreProvider(fake as never, { backstore: 'rbd', data_dir: '/unused' }, silentLogger());
}

test('poolStats: replicated xN with stored / max_avail; erasure-coded k+m from the profile', async () => {
  const p = provider();
  assert.deepEqual(await p.poolStats('rbd'), { name: 'rbd', committedBytes: 0, usedBytes: 1000, capacityBytes: 10000, replicas: 3 });
  const ec = await p.poolStats('ecdata');
  assert.deepEqual(ec.ec, { k: 2, m: 1 });
  assert.equal(ec.replicas, 3);
  assert.equal(ec.usedBytes, 0, 'no df entry (no mgr): zero, not an error');
  await assert.rejects(p.poolStats('nope'), /pool nope does not exist/);
});

test('clusterInfo: health, one line per check, topology counts, version', async () => {
  assert.deepEqual(await provider().clusterInfo(), {
    health: 'HEALTH_WARN',
    checks: ['OSD_DOWN: 1 osds down'],
    topology: { OSDs: 3, MONs: 3 },
    version: 'ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)',
  });
});
