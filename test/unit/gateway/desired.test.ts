import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedConfig, emptyChapAuth, type GatewayConfig, type TargetEntry } from '../../../src/config/schema.js';
import { aluaGroups, desiredState, lunMapFor, tpgTag } from '../../../src/gateway/desired.js';

const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';

function target(over: Partial<TargetEntry> = {}): TargetEntry {
  return {
    acl_enabled: true,
    auth: emptyChapAuth(),
    controls: {},
    ip_list: ['10.0.0.1', '10.0.0.2'],
    portals: {
      gw1: { portal_ip_addresses: ['10.0.0.1'], gateway_ip_list: ['10.0.0.1', '10.0.0.2'], inactive_portal_ips: ['10.0.0.2'], tpgs: 2 },
      gw2: { portal_ip_addresses: ['10.0.0.2'], gateway_ip_list: ['10.0.0.1', '10.0.0.2'], inactive_portal_ips: ['10.0.0.1'], tpgs: 2 },
    },
    disks: { 'rbd/disk_1': { lun_id: 0 }, 'rbd/disk_2': { lun_id: 3 } },
    clients: {
      'iqn.1994-05.com.redhat:rh7-client': { auth: emptyChapAuth(), group_name: '', luns: { 'rbd/disk_1': { lun_id: 0 } } },
      'iqn.1994-05.com.redhat:grouped': { auth: emptyChapAuth(), group_name: 'g1', luns: {} },
    },
    groups: { g1: { members: ['iqn.1994-05.com.redhat:grouped'], disks: { 'rbd/disk_2': { lun_id: 3 } } } },
    created: '',
    updated: '',
    ...over,
  };
}

function doc(t: TargetEntry): GatewayConfig {
  const d = seedConfig(new Date(0));
  d.targets[IQN] = t;
  for (const [id, owner] of [['rbd/disk_1', 'gw2'], ['rbd/disk_2', 'gw1']] as const) {
    const [pool, image] = id.split('/') as [string, string];
    d.disks[id] = { pool, image, pool_id: 1, wwn: `wwn-${image}`, backstore: 'user:rbd', backstore_object_name: `${pool}.${image}`, allocating_host: 'gw1', owner, controls: {}, created: '', updated: '' };
  }
  return d;
}

test('TPG tags follow ip_list order on every gateway', () => {
  const t = target();
  assert.equal(tpgTag(t, '10.0.0.1'), 1);
  assert.equal(tpgTag(t, '10.0.0.2'), 2);
  assert.equal(tpgTag(t, '10.0.0.3'), undefined);
});

test('ALUA: active/optimized on the owner portal, non-optimized elsewhere', () => {
  assert.deepEqual(aluaGroups(target(), 'gw2'), [
    { id: 1, state: 'active-non-optimized', relativePortIds: [1] },
    { id: 2, state: 'active-optimized', relativePortIds: [2] },
  ]);
  assert.ok(aluaGroups(target(), undefined).every((g) => g.state === 'active-non-optimized'));
});

test('desired state of one gateway: its portals and the disks of its targets', () => {
  const s = desiredState(doc(target()), 'gw1', 3260);
  assert.deepEqual(s.portals, [{ ip: '10.0.0.1', port: 3260 }]);
  assert.deepEqual(s.targets, [IQN]);
  assert.deepEqual([...s.disks.keys()].sort(), ['rbd/disk_1', 'rbd/disk_2']);
  assert.equal(s.disks.get('rbd/disk_2')?.lunId, 3);
  const none = desiredState(doc(target()), 'gw9', 3260);
  assert.equal(none.portals.length, 0);
  assert.equal(none.disks.size, 0);
});

test('LUN maps: client LUNs, group LUNs, everything with ACL disabled, nothing for strangers', () => {
  const t = target();
  assert.deepEqual([...lunMapFor(t, 'iqn.1994-05.com.redhat:rh7-client')], [[0, 'rbd/disk_1']]);
  assert.deepEqual([...lunMapFor(t, 'IQN.1994-05.com.redhat:RH7-client')], [[0, 'rbd/disk_1']]);
  assert.deepEqual([...lunMapFor(t, 'iqn.1994-05.com.redhat:grouped')], [[3, 'rbd/disk_2']]);
  assert.equal(lunMapFor(t, 'iqn.2000-01.org.example:stranger').size, 0);
  const open = target({ acl_enabled: false });
  assert.deepEqual([...lunMapFor(open, 'iqn.2000-01.org.example:stranger')].sort(), [[0, 'rbd/disk_1'], [3, 'rbd/disk_2']]);
});
