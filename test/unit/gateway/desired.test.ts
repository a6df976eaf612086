import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seedConfig, emptyChapAuth, type GatewayConfig, type TargetEntry } from '../../../src/config/schema.js';
import { aluaGroups, DesiredStates, desiredState, lunMapFor, tpgTag } from '../../../src/gateway/desired.js';

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

test('DesiredStates: the same disks Map while no desired disk changes; unchanged disks keep their objects', () => {
  const states = new DesiredStates('gw1', 3260);
  const d1 = doc(target());
  const first = states.compute(d1);
  assert.equal(states.compute(d1).disks, first.disks, 'the same document');
  // The target's other fields (a client's LUNs, its stamp): no disk walked, the same Map.
  const t2 = { ...d1.targets[IQN]!, updated: 'later', clients: {} };
  const d2 = { ...d1, targets: { [IQN]: t2 } };
  assert.equal(states.compute(d2).disks, first.disks);
  // A disk added: a new Map; the other disk keeps its DesiredDisk.
  const d3: GatewayConfig = { ...d2, targets: { [IQN]: { ...t2, disks: { ...t2.disks, 'rbd/disk_3': { lun_id: 4 } } } }, disks: { ...d2.disks, 'rbd/disk_3': { ...d2.disks['rbd/disk_1']!, image: 'disk_3' } } };
  const third = states.compute(d3);
  assert.notEqual(third.disks, first.disks);
  assert.deepEqual([...third.disks.keys()].sort(), ['rbd/disk_1', 'rbd/disk_2', 'rbd/disk_3']);
  assert.equal(third.disks.get('rbd/disk_2'), first.disks.get('rbd/disk_2'));
  // A new disk map whose entries are all the same objects: the same Map again.
  const d4: GatewayConfig = { ...d3, disks: { ...d3.disks } };
  assert.equal(states.compute(d4).disks, third.disks);
  // An entry changed (its owner): that disk only is new.
  const d5 = { ...d4, disks: { ...d4.disks, 'rbd/disk_1': { ...d4.disks['rbd/disk_1']!, owner: 'gw1' } } };
  const fifth = states.compute(d5);
  assert.notEqual(fifth.disks.get('rbd/disk_1'), third.disks.get('rbd/disk_1'));
  assert.equal(fifth.disks.get('rbd/disk_1')?.groups[0]?.state, 'active-optimized');
  assert.equal(fifth.disks.get('rbd/disk_3'), third.disks.get('rbd/disk_3'));
  // No target served here any more: no disks.
  assert.equal(states.compute({ ...d5, targets: {} }).disks.size, 0);
});

test('DesiredStates across random edits (LUNs mapped and unmapped, entries changed or gone) equals desiredState() of each document', () => {
  const op = fc.record({
    kind: fc.constantFrom('map', 'unmap', 'owner', 'lun', 'dropEntry', 'refOnly', 'portals', 'stamp'),
    n: fc.nat(30),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
      const states = new DesiredStates('gw1', 3260);
      let d = doc(target());
      for (const o of ops) {
        const t = d.targets[IQN]!;
        const id = `rbd/x${o.n}`;
        const entry = { ...d.disks['rbd/disk_1']!, image: `x${o.n}`, owner: o.n % 2 === 0 ? 'gw1' : 'gw2' };
        switch (o.kind) {
          case 'map':
            d = { ...d, disks: { ...d.disks, [id]: entry }, targets: { [IQN]: { ...t, disks: { ...t.disks, [id]: { lun_id: 10 + o.n } } } } };
            break;
          case 'unmap': {
            const { [id]: _gone, ...rest } = t.disks;
            d = { ...d, targets: { [IQN]: { ...t, disks: rest } } };
            break;
          }
          case 'owner':
            if (d.disks[id] !== undefined) d = { ...d, disks: { ...d.disks, [id]: { ...d.disks[id]!, owner: d.disks[id]!.owner === 'gw1' ? 'gw2' : 'gw1' } } };
            break;
          case 'lun':
            if (t.disks[id] !== undefined) d = { ...d, targets: { [IQN]: { ...t, disks: { ...t.disks, [id]: { lun_id: 100 + o.n } } } } };
            break;
          case 'dropEntry': {
            const { [id]: _gone, ...rest } = d.disks;
            d = { ...d, disks: rest };
            break;
          }
          case 'refOnly':
            d = { ...d, targets: { [IQN]: { ...t, disks: { ...t.disks, [id]: { lun_id: 200 + o.n } } } } };
            break;
          case 'portals':
            d = { ...d, targets: { [IQN]: { ...t, portals: { ...t.portals } } } };
            break;
          case 'stamp':
            d = { ...d, targets: { [IQN]: { ...t, updated: String(o.n) } } };
            break;
        }
        const got = states.compute(d).disks;
        const want = desiredState(d, 'gw1', 3260).disks;
        assert.deepEqual(new Map([...got].sort(([a], [b]) => (a < b ? -1 : 1))), new Map([...want].sort(([a], [b]) => (a < b ? -1 : 1))));
      }
    }),
    { numRuns: 300 },
  );
});
