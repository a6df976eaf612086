import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateConfig } from '../../../src/config/migrate.js';
import { GatewayError } from '../../../src/util/errors.js';

const emptyAuth = {
  username: '', password: '', password_encryption_enabled: false,
  mutual_username: '', mutual_password: '', mutual_password_encryption_enabled: false,
};

function v10(): Record<string, unknown> {
  return {
    version: 10,
    epoch: 12,
    created: '2020/01/01 00:00:00',
    updated: '2020/01/02 00:00:00',
    discovery_auth: { ...emptyAuth, username: 'discover1', password: 'discoverpass12' },
    gateways: { 'gw1.example.com': { active_luns: 2, created: 'c', updated: 'u' }, created: 'stray' },
    disks: { 'rbd/disk_2': { pool: 'rbd', image: 'disk_2' }, 'rbd/disk_1': { pool: 'rbd', image: 'disk_1' } },
    targets: {
      'iqn.2003-01.com.redhat.iscsi-gw:ceph-igw': {
        acl_enabled: true,
        controls: { cmdsn_depth: 64 },
        ip_list: ['10.0.0.1'],
        portals: {},
        disks: ['rbd/disk_2', 'rbd/disk_1'],
        clients: { 'iqn.1994-05.com.redhat:c1': { auth: emptyAuth, group_name: '', luns: { 'rbd/disk_1': { lun_id: 0 } } } },
        groups: {},
        created: 'c',
        updated: 'u',
        vendor_extension: 'kept',
      },
      'iqn.2003-01.com.redhat.iscsi-gw:empty': { acl_enabled: false, disks: [], clients: {}, portals: {}, groups: {}, ip_list: [], controls: {} },
    },
    gateways_upgraded: ['gw1.example.com'],
  };
}

test('v10 → v11: target auth added, disk list becomes {id: {lun_id}} in sorted order; the rest kept', () => {
  const { doc, changed, fromVersion } = migrateConfig(v10());
  assert.equal(changed, true);
  assert.equal(fromVersion, 10);
  assert.equal(doc.version, 11);
  assert.equal(doc.epoch, 12, 'the store bumps the epoch when it writes, not the migration');
  const t = doc.targets['iqn.2003-01.com.redhat.iscsi-gw:ceph-igw']!;
  assert.deepEqual(t.auth, emptyAuth);
  assert.deepEqual(t.disks, { 'rbd/disk_1': { lun_id: 0 }, 'rbd/disk_2': { lun_id: 1 } });
  assert.equal(t.vendor_extension, 'kept');
  assert.deepEqual(t.controls, { cmdsn_depth: 64 });
  assert.deepEqual(doc.targets['iqn.2003-01.com.redhat.iscsi-gw:empty']!.disks, {});
  assert.equal(doc.discovery_auth.username, 'discover1');
  assert.deepEqual((doc as Record<string, unknown>).gateways_upgraded, ['gw1.example.com']);
  assert.equal((doc.gateways as Record<string, unknown>).created, 'stray');
});

test('v11 passes through unchanged', () => {
  const d = v10();
  const { doc: once } = migrateConfig(d);
  const copy = structuredClone(once);
  const again = migrateConfig(copy);
  assert.equal(again.changed, false);
  assert.deepEqual(again.doc, once);
});

test('a half-upgraded v10 (disks already keyed) keeps lun ids and numbers the rest', () => {
  const d = v10();
  const t = (d.targets as Record<string, Record<string, unknown>>)['iqn.2003-01.com.redhat.iscsi-gw:ceph-igw']!;
  t.disks = { 'rbd/a': { lun_id: 0 }, 'rbd/b': {}, 'rbd/c': { lun_id: 1 } };
  const { doc } = migrateConfig(d);
  assert.deepEqual(doc.targets['iqn.2003-01.com.redhat.iscsi-gw:ceph-igw']!.disks, {
    'rbd/a': { lun_id: 0 }, 'rbd/b': { lun_id: 2 }, 'rbd/c': { lun_id: 1 },
  });
});

test('missing containers are filled in; wrong shapes are ERR_CONFIG_CORRUPT naming the source', () => {
  const { doc, changed } = migrateConfig({ version: 11 }, 'x.conf');
  assert.equal(changed, false);
  assert.deepEqual(doc.targets, {});
  assert.deepEqual(doc.disks, {});
  assert.deepEqual(doc.gateways, {});
  assert.deepEqual(doc.discovery_auth, emptyAuth);
  assert.equal(doc.epoch, 0);
  const corrupt = (raw: unknown, re: RegExp): void => {
    assert.throws(() => migrateConfig(raw, 'x.conf'), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_CORRUPT' && re.test(e.message));
  };
  corrupt(null, /^x\.conf: not a configuration document/);
  corrupt([], /not a configuration document/);
  corrupt('str', /not a configuration document/);
  corrupt({}, /"version" is missing/);
  corrupt({ version: '11' }, /"version" is missing or not an integer/);
  corrupt({ version: 11, targets: [] }, /"targets" must be a JSON object/);
  corrupt({ version: 10, targets: { t: 5 } }, /targets\["t"\] must be a JSON object/);
  corrupt({ version: 10, targets: { t: { disks: 'x' } } }, /disks must be a list or an object/);
});

test('versions other than 10 and 11 are refused with ERR_CONFIG_VERSION', () => {
  for (const v of [1, 2, 9]) {
    assert.throws(() => migrateConfig({ version: v }), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_VERSION' && /unsupported/.test(e.message), String(v));
  }
  assert.throws(() => migrateConfig({ version: 12 }), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_CONFIG_VERSION' && /newer than this gateway supports \(11\)/.test(e.message));
});
