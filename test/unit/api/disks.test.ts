/** Disk create/resize/reconfigure/delete, target LUN mapping and snapshot rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackstoreProvider } from '../../../src/backstore/backstore.js';
import { MemoryProvider } from '../../../src/backstore/memory.js';
import { CLIENT, GW1, TARGET, makeHarness, msg, seedFlow, session } from './helpers.js';

test('disk create: every validation rule answers 400 with upstream text and writes nothing', async () => {
  const h = makeHarness();
  try {
    const cases: Array<[string, Record<string, string>, string]> = [
      ['/api/disk/rbd/x', {}, "disk operation mode 'None' is invalid"],
      ['/api/disk/rbd/x', { mode: 'explode' }, "disk operation mode 'explode' is invalid"],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', backstore: 'fileio' }, "Invalid 'fileio' backstore - Supported backstores: user:rbd"],
      ['/api/disk/rb%24d/x', { mode: 'create', size: '1G' }, "Invalid pool name (use alphanumeric, '_', '.', or '-' characters)"],
      ['/api/disk/rbd/x%20y', { mode: 'create', size: '1G' }, "Invalid image name (use alphanumeric, '_', '.', or '-' characters)"],
      ['/api/disk/rbd/x', { mode: 'create', size: '1.5G' }, 'Size is invalid'],
      ['/api/disk/rbd/x', { mode: 'create', size: '0G' }, 'Size is invalid'],
      ['/api/disk/rbd/x', { mode: 'create', size: '10K' }, 'Size is invalid'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', count: '0' }, 'invalid count specified, must be an integer (1-10)'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', count: '11' }, 'invalid count specified, must be an integer (1-10)'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', count: 'two' }, 'invalid count specified, must be an integer (1-10)'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', count: '2', wwn: 'abc' }, 'WWN cannot be specified when count > 1'],
      ['/api/disk/nopool/x', { mode: 'create', size: '1G' }, "Pool 'nopool' does not exist. Unable to continue"],
      ['/api/disk/rbd/x', { mode: 'create' }, 'Size parameter is required when creating a new image'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', create_image: 'false' }, 'Image rbd/x does not exist'],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', create_image: 'perhaps' }, "Invalid 'create_image' value perhaps (expected true or false)"],
      ['/api/disk/rbd/x', { mode: 'create', size: '1G', controls: '{"max_data_area_mb": 99999}' }, 'Unexpected or invalid controls - expected integer <= 2048 for max_data_area_mb (allowed: 1-2048)'],
    ];
    for (const [url, form, message] of cases) {
      const r = await h.call('PUT', url, { form });
      assert.deepEqual([r.statusCode, msg(r)], [400, message], `${url} ${JSON.stringify(form)}`);
    }
    assert.equal(h.store.writes, 0);
    assert.equal(await h.backstore.imageSize('rbd', 'x'), undefined);
  } finally {
    await h.close();
  }
});

test('disk create: existing image registered without size (Dashboard), wwn kept and unique, count names', async () => {
  const h = makeHarness();
  try {
    await h.backstore.createImage('rbd', 'existing', 4 * 1024 * 1024);
    let r = await h.call('PUT', '/api/disk/rbd/existing', { form: { mode: 'create', backstore: 'user:rbd', wwn: 'serial-0001' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk create/update successful']);
    assert.equal(h.store.current().disks['rbd/existing']?.wwn, 'serial-0001');
    assert.equal(await h.backstore.imageSize('rbd', 'existing'), 4 * 1024 * 1024, 'existing image untouched');
    // An existing image with a larger requested size grows (never shrinks).
    await h.backstore.createImage('rbd', 'grow', 4 * 1024 * 1024);
    await h.backstore.createImage('rbd', 'keep', 8 * 1024 * 1024);
    assert.equal((await h.call('PUT', '/api/disk/rbd/grow', { form: { mode: 'create', size: '16M' } })).statusCode, 200);
    assert.equal((await h.call('PUT', '/api/disk/rbd/keep', { form: { mode: 'create', size: '1M' } })).statusCode, 200);
    assert.equal(await h.backstore.imageSize('rbd', 'grow'), 16 * 1024 * 1024);
    assert.equal(await h.backstore.imageSize('rbd', 'keep'), 8 * 1024 * 1024);
    await h.call('DELETE', '/api/disk/rbd/grow', { form: { preserve_image: 'true' } });
    await h.call('DELETE', '/api/disk/rbd/keep', { form: { preserve_image: 'true' } });
    r = await h.call('PUT', '/api/disk/rbd/other', { form: { mode: 'create', size: '1M', wwn: 'serial-0001' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'WWN serial-0001 is already in use by rbd/existing']);
    r = await h.call('PUT', '/api/disk/rbd/existing', { form: { mode: 'create', size: '1M' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'at least one rbd image(s) with that name/prefix is already defined']);
    r = await h.call('PUT', '/api/disk/rbd/multi', { form: { mode: 'create', size: '1M', count: '3' } });
    assert.equal(r.statusCode, 200);
    const doc = h.store.current();
    assert.deepEqual(Object.keys(doc.disks).sort(), ['rbd/existing', 'rbd/multi1', 'rbd/multi2', 'rbd/multi3']);
    const wwns = new Set(Object.values(doc.disks).map((d) => d.wwn));
    assert.equal(wwns.size, 4, 'generated WWNs are unique');
    const poolIds = new Set(Object.values(doc.disks).map((d) => d.pool_id));
    assert.equal(poolIds.size, 1, 'one pool_id per pool');
    r = await h.call('PUT', '/api/disk/datapool/d', { form: { mode: 'create', size: '1M' } });
    assert.equal(r.statusCode, 200);
    assert.notEqual(h.store.current().disks['datapool/d']?.pool_id, [...poolIds][0]);
  } finally {
    await h.close();
  }
});

test('backstore_object_name is de-duplicated ("a.b/c" vs "a/b.c")', async () => {
  const h = makeHarness({ backstore: new MemoryProvider({ pools: ['a', 'a.b'] }) });
  try {
    assert.equal((await h.call('PUT', '/api/disk/a.b/c', { form: { mode: 'create', size: '1M' } })).statusCode, 200);
    assert.equal((await h.call('PUT', '/api/disk/a/b.c', { form: { mode: 'create', size: '1M' } })).statusCode, 200);
    const doc = h.store.current();
    assert.equal(doc.disks['a.b/c']?.backstore_object_name, 'a.b.c');
    assert.equal(doc.disks['a/b.c']?.backstore_object_name, 'a.b.c.1');
  } finally {
    await h.close();
  }
});

test('disk create with count: a failure part-way removes the images this request created', async () => {
  const inner = new MemoryProvider({ pools: ['rbd'] });
  let creates = 0;
  const flaky: BackstoreProvider = Object.create(inner) as BackstoreProvider;
  flaky.createImage = async (pool: string, image: string, size: number): Promise<void> => {
    creates++;
    if (creates === 2) throw new Error('cluster full');
    await inner.createImage(pool, image, size);
  };
  const h = makeHarness({ backstore: flaky });
  try {
    const r = await h.call('PUT', '/api/disk/rbd/f', { form: { mode: 'create', size: '1M', count: '3' } });
    assert.equal(r.statusCode, 500);
    assert.match(msg(r), /^Unhandled exception: cluster full/);
    assert.deepEqual(await inner.listImages('rbd'), []);
    assert.equal(h.store.writes, 0);
  } finally {
    await h.close();
  }
});

test('resize: grow only, 404 unknown, size validated; the entry is touched so gateways reconcile', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('PUT', '/api/disk/rbd/nope', { form: { mode: 'resize', size: '2G' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, 'rbd rbd/nope is not defined to the configuration']);
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'resize', size: 'big' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Size is invalid']);
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'resize', size: '1G' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'resize value must be larger than the current size (1G/1073741824)']);
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'resize', size: '512M' } });
    assert.equal(r.statusCode, 400);
    const epoch = h.store.current().epoch;
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'resize', size: '2G' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk create/update successful']);
    assert.equal(await h.backstore.imageSize('rbd', 'disk_1'), 2 * 1024 ** 3);
    assert.equal(h.store.current().epoch, epoch + 1);
  } finally {
    await h.close();
  }
});

test('reconfigure: refused until mapped; merges disk controls', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', '/api/disk/rbd/lonely', { form: { mode: 'create', size: '1M' } });
    let r = await h.call('PUT', '/api/disk/rbd/lonely', { form: { mode: 'reconfigure', controls: '{"hw_max_sectors": 2048}' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Cannot reconfigure until disk assigned to target - Disk rbd/lonely must be assigned to a target']);
    await seedFlow(h, { withClient: false });
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'reconfigure', controls: '{"hw_max_sectors": 2048, "qfull_timeout": "7"}' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'lun reconfigured: successful']);
    assert.deepEqual(h.store.current().disks['rbd/disk_1']?.controls, { hw_max_sectors: 2048, qfull_timeout: 7 });
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'reconfigure', controls: '{"hw_max_sectors": 1024}' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(h.store.current().disks['rbd/disk_1']?.controls, { qfull_timeout: 7 }, 'the default value resets');
    r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'reconfigure', controls: '{"cmdsn_depth": 1}' } });
    assert.equal(r.statusCode, 400);
    assert.match(msg(r), /^Unexpected or invalid controls - Supported controls: max_data_area_mb/);
  } finally {
    await h.close();
  }
});

test('disk delete: 404 unknown, refused while allocated to a client or mapped to a target', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('DELETE', '/api/disk/rbd/none');
    assert.deepEqual([r.statusCode, msg(r)], [404, 'rbd rbd/none is not defined to the configuration']);
    await seedFlow(h);
    r = await h.call('DELETE', '/api/disk/rbd/disk_1');
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to delete rbd/disk_1. Allocated to: ${CLIENT}`]);
    await h.call('DELETE', `/api/clientlun/${TARGET}/${CLIENT}`, { form: { disk: 'rbd/disk_1' } });
    r = await h.call('DELETE', '/api/disk/rbd/disk_1');
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to delete rbd/disk_1. Mapped to: ${TARGET}`]);
    assert.ok(await h.backstore.imageSize('rbd', 'disk_1'));
  } finally {
    await h.close();
  }
});

test('GET /api/disk: 404 unknown; status Unknown until mapped, then Online', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('GET', '/api/disk/rbd/disk_1');
    assert.deepEqual([r.statusCode, msg(r)], [404, 'rbd image rbd/disk_1 not found']);
    await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'create', size: '1M' } });
    r = await h.call('GET', '/api/disk/rbd/disk_1');
    assert.deepEqual(r.json<{ status: unknown }>().status, { state: 'Unknown' });
    await seedFlow(h, { disk: 'rbd/disk_2', withClient: false });
    r = await h.call('GET', '/api/disk/rbd/disk_2');
    assert.deepEqual(r.json<{ status: unknown }>().status, { state: 'Online', lock_owner: GW1, gateways: {} });
  } finally {
    await h.close();
  }
});

test('targetlun: every rule', async () => {
  const h = makeHarness({ settings: { minimum_gateways: 2 } });
  try {
    await h.call('PUT', '/api/disk/rbd/d1', { form: { mode: 'create', size: '1M' } });
    await h.call('PUT', '/api/disk/rbd/d2', { form: { mode: 'create', size: '1M' } });
    await h.call('PUT', `/api/target/${TARGET}`);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    let r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'at least 2 gateways must exist before disk mapping operations are permitted']);
    await h.call('PUT', `/api/gateway/${TARGET}/gw2.example.com`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, {});
    assert.deepEqual([r.statusCode, msg(r)], [400, 'disk is required']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'nodisk' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid disk nodisk - expected <pool>/<image>']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d9' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Disk rbd/d9 is not defined in the configuration']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1', lun_id: 'x' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Lun id must be a number']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1', lun_id: '-1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Lun id must be a number']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1', lun_id: '70000' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Lun id 70000 is out of range (0-16383)']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1', lun_id: '5' } });
    assert.equal(r.statusCode, 200);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d2', lun_id: '5' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Lun id 5 already in use']);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Disk rbd/d1 cannot be used because it is already mapped on target ${TARGET}`]);
    const other = 'iqn.2003-01.com.example:other';
    await h.call('PUT', `/api/target/${other}`);
    await h.call('PUT', `/api/gateway/${other}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${other}/gw2.example.com`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    r = await h.call('PUT', `/api/targetlun/${other}`, { form: { disk: 'rbd/d1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Disk rbd/d1 cannot be used because it is already mapped on target ${TARGET}`]);
    // Image gone underneath.
    await h.backstore.removeImage('rbd', 'd2');
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d2' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Image rbd/d2 not found']);
    // DELETE rules
    r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/d2' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Disk rbd/d2 is not defined in target ${TARGET}`]);
    r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/zz' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Disk rbd/zz is not defined in the configuration']);
    r = await h.call('PUT', `/api/targetlun/iqn.2003-01.com.example:none`, { form: { disk: 'rbd/d1' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Target iqn.2003-01.com.example:none does not exist']);
  } finally {
    await h.close();
  }
});

test('targetlun DELETE refused while the disk is in a host group or masked to a client', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    let r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to delete rbd/disk_1 - allocated to ${CLIENT}`]);
    await h.call('DELETE', `/api/clientlun/${TARGET}/${CLIENT}`, { form: { disk: 'rbd/disk_1' } });
    const other = 'iqn.1994-05.com.redhat:other';
    await h.call('PUT', `/api/client/${TARGET}/${other}`);
    r = await h.call('PUT', `/api/hostgroup/${TARGET}/grp1`, { form: { members: other, disks: 'rbd/disk_1' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Disk rbd/disk_1 belongs to group grp1']);
  } finally {
    await h.close();
  }
});

test('snapshots: create, duplicate, rollback (refused while in use), delete, missing, invalid names', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'create' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, 'rbd image rbd/disk_1 not found']);
    await seedFlow(h);
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/a@b', { form: { mode: 'create' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'snapshot name is invalid']);
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'clone' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'mode is invalid']);
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'create' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk snapshot snapshot created']);
    assert.deepEqual(await h.backstore.snapshot?.list('rbd', 'disk_1'), ['s1']);
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'create' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'snapshot s1 already exists']);
    h.status.sessionList = [session(TARGET, CLIENT)];
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'rollback' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'failed to deactivate disk: LUN disk_1 in-use']);
    h.status.sessionList = [];
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s1', { form: { mode: 'rollback' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk snapshot rolled back to snapshot']);
    r = await h.call('PUT', '/api/disksnap/rbd/disk_1/s2', { form: { mode: 'rollback' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, 'snapshot s2 does not exist']);
    r = await h.call('DELETE', '/api/disksnap/rbd/disk_1/s1');
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk snapshot snapshot deleted']);
    r = await h.call('DELETE', '/api/disksnap/rbd/disk_1/s1');
    assert.deepEqual([r.statusCode, msg(r)], [404, 'snapshot s1 does not exist']);
  } finally {
    await h.close();
  }
});

test('snapshots on a backstore without snapshot support: 400 naming the kind', async () => {
  const inner = new MemoryProvider({ pools: ['rbd'] });
  const plain: BackstoreProvider = {
    kind: 'file',
    listPools: () => inner.listPools(),
    poolExists: (p) => inner.poolExists(p),
    poolStats: (p) => inner.poolStats(p),
    listImages: (p) => inner.listImages(p),
    imageSize: (p, i) => inner.imageSize(p, i),
    createImage: (p, i, s) => inner.createImage(p, i, s),
    resizeImage: (p, i, s) => inner.resizeImage(p, i, s),
    removeImage: (p, i) => inner.removeImage(p, i),
    open: (p, i) => inner.open(p, i),
    close: () => inner.close(),
  };
  const h = makeHarness({ backstore: plain });
  try {
    await h.call('PUT', '/api/disk/rbd/d', { form: { mode: 'create', size: '1M' } });
    const r = await h.call('PUT', '/api/disksnap/rbd/d/s1', { form: { mode: 'create' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'snapshots are not supported by the file backstore']);
  } finally {
    await h.close();
  }
});

test('a create of the same name while the image of a deleted disk is still being removed is refused', async () => {
  const inner = new MemoryProvider({ pools: ['rbd'] });
  let release: () => void = () => undefined;
  let removalStarted: () => void = () => undefined;
  const started = new Promise<void>((r) => (removalStarted = r));
  const slow: BackstoreProvider = Object.create(inner) as BackstoreProvider;
  slow.removeImage = async (pool: string, image: string): Promise<void> => {
    removalStarted();
    await new Promise<void>((r) => (release = r));
    await inner.removeImage(pool, image);
  };
  const h = makeHarness({ backstore: slow });
  try {
    assert.equal((await h.call('PUT', '/api/disk/rbd/re', { form: { mode: 'create', size: '1M' } })).statusCode, 200);
    const del = h.call('DELETE', '/api/disk/rbd/re');
    await started;
    let r = await h.call('PUT', '/api/disk/rbd/re', { form: { mode: 'create', size: '1M' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'rbd image rbd/re is being deleted, retry later']);
    release();
    assert.equal((await del).statusCode, 200);
    r = await h.call('PUT', '/api/disk/rbd/re', { form: { mode: 'create', size: '2M' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(await inner.imageSize('rbd', 're'), 2 * 1024 * 1024, 'a fresh image');
  } finally {
    await h.close();
  }
});
