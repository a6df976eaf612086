/** Pure document operations, and an upstream-written document driven through the API. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addPortal, backstoreObjectName, lowestFreeId, pickOwner, poolIdFor, removePortal, targetOr404 } from '../../../src/api/doc.js';
import { seedConfig } from '../../../src/config/schema.js';
import type { GatewayConfig } from '../../../src/config/schema.js';
import { ApiError } from '../../../src/api/errors.js';
import { CLIENT, TARGET, makeHarness, msg } from './helpers.js';

test('lowestFreeId: preferred first, then the lowest free, undefined when full', () => {
  assert.equal(lowestFreeId(new Set([0, 1, 3]), 10), 2);
  assert.equal(lowestFreeId(new Set([0, 1, 3]), 10, 7), 7);
  assert.equal(lowestFreeId(new Set([0, 1, 3]), 10, 3), 2);
  assert.equal(lowestFreeId(new Set([0, 1]), 1), undefined);
  assert.equal(lowestFreeId(new Set(), 5, 9), 0, 'preferred out of range is ignored');
});

test('addPortal/removePortal keep ip_list order and every portal in step; pickOwner ties go to the first portal', () => {
  const doc = seedConfig();
  doc.targets[TARGET] = targetShell();
  const t = targetOr404(doc, TARGET);
  addPortal(doc, t, 'a', ['10.0.0.1'], 'now');
  addPortal(doc, t, 'b', ['10.0.0.2', '10.0.0.3'], 'now');
  addPortal(doc, t, 'c', ['10.0.0.4'], 'now');
  assert.deepEqual(t.ip_list, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  assert.deepEqual(t.portals['a']?.inactive_portal_ips, ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  assert.equal(t.portals['a']?.tpgs, 4);
  assert.equal(pickOwner(doc, t), 'a');
  (doc.gateways['a'] as { active_luns: number }).active_luns = 2;
  (doc.gateways['b'] as { active_luns: number }).active_luns = 1;
  assert.equal(pickOwner(doc, t), 'c');
  assert.equal(removePortal(doc, t, 'b', 'later'), false);
  assert.deepEqual(t.ip_list, ['10.0.0.1', '10.0.0.4']);
  assert.deepEqual(t.portals['c'], { portal_ip_addresses: ['10.0.0.4'], gateway_ip_list: ['10.0.0.1', '10.0.0.4'], inactive_portal_ips: ['10.0.0.1'], tpgs: 2 });
  removePortal(doc, t, 'a', 'later');
  assert.equal(removePortal(doc, t, 'c', 'later'), true, 'last portal');
});

test('backstoreObjectName and poolIdFor', () => {
  const doc = seedConfig();
  assert.equal(backstoreObjectName(doc, 'rbd', 'x'), 'rbd.x');
  assert.equal(poolIdFor(doc, 'rbd'), 1);
  doc.disks['rbd/x'] = { pool: 'rbd', image: 'x', pool_id: 5, wwn: 'w', backstore: 'user:rbd', backstore_object_name: 'rbd.x', allocating_host: 'h', controls: {}, created: '', updated: '' };
  assert.equal(backstoreObjectName(doc, 'rbd', 'x'), 'rbd.x.1');
  assert.equal(poolIdFor(doc, 'rbd'), 5);
  assert.equal(poolIdFor(doc, 'other'), 6);
});

test('targetOr404 throws a 404 ApiError naming the target', () => {
  assert.throws(() => targetOr404(seedConfig(), TARGET), (e: unknown) => e instanceof ApiError && e.statusCode === 404 && e.message === `Target ${TARGET} does not exist`);
});

function targetShell(): GatewayConfig['targets'][string] {
  return { acl_enabled: true, auth: { username: '', password: '', password_encryption_enabled: false, mutual_username: '', mutual_password: '', mutual_password_encryption_enabled: false }, controls: {}, ip_list: [], portals: {}, disks: {}, clients: {}, groups: {}, created: '', updated: '' };
}

test('a document written by upstream ceph-iscsi (string entries in gateways, missing keys) is handled', async () => {
  const upstream = JSON.parse(`{
    "disks": { "rbd/disk_1": { "allocating_host": "ceph-gw-1.example.com", "backstore": "user:rbd", "backstore_object_name": "rbd.disk_1",
      "controls": { "max_data_area_mb": 128 }, "created": "2024/01/02 10:00:00", "image": "disk_1", "owner": "ceph-gw-1.example.com",
      "pool": "rbd", "pool_id": 2, "updated": "2024/01/02 10:00:00", "wwn": "64af6678-9694-4367-bacc-f8eb0baa0a11" } },
    "gateways": { "ceph-gw-1.example.com": { "active_luns": 1, "created": "2024/01/02 10:00:00", "updated": "2024/01/02 10:00:00" },
      "created": "2024/01/02 10:00:00" },
    "targets": { "${TARGET}": { "acl_enabled": true, "auth": { "username": "", "password": "", "password_encryption_enabled": false,
        "mutual_username": "", "mutual_password": "", "mutual_password_encryption_enabled": false },
      "clients": { "${CLIENT}": { "auth": { "username": "", "password": "", "password_encryption_enabled": false, "mutual_username": "",
        "mutual_password": "", "mutual_password_encryption_enabled": false }, "group_name": "", "luns": { "rbd/disk_1": { "lun_id": 0 } } } },
      "controls": {}, "created": "2024/01/02 10:00:00", "disks": { "rbd/disk_1": { "lun_id": 0 } },
      "ip_list": ["192.168.122.69"],
      "portals": { "ceph-gw-1.example.com": { "gateway_ip_list": ["192.168.122.69"], "inactive_portal_ips": [], "portal_ip_addresses": ["192.168.122.69"], "tpgs": 1 } },
      "updated": "2024/01/02 10:00:00" } },
    "discovery_auth": { "username": "", "password": "", "password_encryption_enabled": false, "mutual_username": "", "mutual_password": "", "mutual_password_encryption_enabled": false },
    "version": 11, "epoch": 42, "created": "2024/01/02 10:00:00", "updated": "2024/01/03 11:00:00",
    "x_unknown_key": { "kept": true } }`) as GatewayConfig;
  const h = makeHarness({ doc: upstream });
  try {
    await h.backstore.createImage('rbd', 'disk_1', 1024 * 1024);
    let r = await h.call('PUT', `/api/gateway/${TARGET}/gw1.example.com`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('GET', '/api/_ping');
    assert.equal(r.statusCode, 200);
    r = await h.call('PUT', '/api/disk/rbd/disk_2', { form: { mode: 'create', size: '1M' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_2' } });
    assert.equal(r.statusCode, 200, r.body);
    const doc = h.store.current();
    assert.equal(doc.disks['rbd/disk_2']?.owner, 'gw1.example.com', 'the new gateway has fewer active LUNs');
    assert.equal(doc.disks['rbd/disk_2']?.pool_id, 2, "the pool's existing id is reused");
    assert.equal(doc.gateways['created'], '2024/01/02 10:00:00', 'non-dict gateway entries are kept');
    assert.deepEqual(doc['x_unknown_key'], { kept: true }, 'unknown keys are kept');
    r = await h.call('DELETE', `/api/gateway/${TARGET}/ceph-gw-1.example.com`);
    assert.equal(r.statusCode, 200, r.body);
    const after = h.store.current();
    assert.equal(after.disks['rbd/disk_1']?.owner, 'gw1.example.com', 'owner reassigned');
    assert.equal(after.gateways['ceph-gw-1.example.com'], undefined);
    r = await h.call('GET', '/api/sysinfo/hostname');
    assert.equal(msg(r), JSON.stringify({ data: 'gw1.example.com' }));
  } finally {
    await h.close();
  }
});
