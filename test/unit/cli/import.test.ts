import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStep, planImport, validateExport } from '../../../src/cli/import.js';
import { C, C2, T, fixtureState } from './fixture.js';

const empty = () => ({ targets: {}, disks: {}, discovery_auth: fixtureState().config.discovery_auth });

test('validateExport names each problem and its place', () => {
  assert.deepEqual(validateExport('x'), ['the file is not a JSON object (expected the output of `export`)']);
  assert.deepEqual(validateExport({ disks: {} }), ['"targets" is missing or not an object']);
  const bad = { version: 12, disks: { 'rbd/a/b': {}, ok: 1 }, targets: { 'not-iqn': {}, [T]: { disks: { 'rbd/zz': { lun_id: 0 } }, clients: { bogus: {} } } } };
  assert.deepEqual(validateExport(bad), [
    'version 12 is newer than this gwcli understands (11)',
  ]);
  delete (bad as { version?: number }).version;
  assert.deepEqual(validateExport(bad), [
    'disks: "rbd/a/b" is not pool/image',
    'disks: "ok" is not pool/image',
    'disks.ok: not an object',
    'targets: "not-iqn" is not an iqn',
    `targets.${T}.disks: rbd/zz is not in "disks"`,
    `targets.${T}.clients: "bogus" is not an iqn`,
  ]);
  assert.deepEqual(validateExport(fixtureState().config), []);
});

test('from an empty configuration: every object in the order the API accepts them', () => {
  const wanted = fixtureState().config;
  wanted.targets[T]!.controls = { cmdsn_depth: 64 };
  wanted.disks['rbd/disk_1']!.controls = { qfull_timeout: 10 };
  const plan = planImport(empty(), wanted);
  assert.deepEqual(plan.warnings, []);
  assert.deepEqual(plan.kept, []);
  assert.deepEqual(plan.steps.map((s) => `${s.method} ${s.path}`), [
    'PUT /api/disk/rbd/disk_1',
    'PUT /api/disk/rbd/disk_2',
    `PUT /api/target/${T}`,
    `PUT /api/gateway/${T}/gw1`,
    `PUT /api/gateway/${T}/gw2`,
    `PUT /api/target/${T}`,
    `PUT /api/targetlun/${T}`,
    `PUT /api/targetlun/${T}`,
    'PUT /api/disk/rbd/disk_1',
    `PUT /api/client/${T}/${C2}`,
    `PUT /api/clientauth/${T}/${C2}`,
    `PUT /api/clientlun/${T}/${C2}`,
    `PUT /api/client/${T}/${C}`,
    `PUT /api/clientauth/${T}/${C}`,
    `PUT /api/clientlun/${T}/${C}`,
  ]);
  assert.deepEqual(plan.steps[0]!.form, { mode: 'create', create_image: 'false', wwn: 'w1', backstore: 'user:rbd' });
  assert.deepEqual(plan.steps[3]!.form, { ip_address: '192.168.122.69', skipchecks: 'true' });
  assert.deepEqual(plan.steps[5]!.form, { mode: 'reconfigure', controls: '{"cmdsn_depth":64}' });
  assert.deepEqual(plan.steps[6]!.form, { disk: 'rbd/disk_1', lun_id: '0' });
  assert.match(describeStep(plan.steps[10]!), /password=\*\*\*\*\*\*\*\* /);
  assert.doesNotMatch(describeStep(plan.steps[10]!), /myhost1passw0rd/);
});

test('the same configuration: nothing to do; differences the API cannot change are warnings', () => {
  const have = fixtureState().config;
  assert.deepEqual(planImport(have, fixtureState().config).steps, []);
  const wanted = fixtureState().config;
  wanted.disks['rbd/disk_1']!.wwn = 'other';
  wanted.targets[T]!.disks['rbd/disk_1']!.lun_id = 7;
  delete wanted.targets[T]!.clients[C2];
  wanted.targets[T]!.clients[C]!.auth.password_encryption_enabled = true;
  wanted.targets[T]!.clients[C]!.auth.password = 'ciphertext';
  const plan = planImport(have, wanted);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.warnings, [
    'disk rbd/disk_1: wwn w1 here, other in the file (a wwn cannot change; detach the disk first to restore it)',
    `target ${T}: rbd/disk_1 is LUN 0 here, 7 in the file`,
    `client ${C}: the CHAP password in the file is encrypted; it is not restored (export with this gwcli writes it in clear)`,
  ]);
  assert.deepEqual(plan.kept, [`client ${C2} of ${T}`]);
});

test('host groups: created with members and disks; members get no LUNs of their own; ACL off before target CHAP', () => {
  const wanted = fixtureState().config;
  const t = wanted.targets[T]!;
  t.groups = { grp1: { members: [C2], disks: { 'rbd/disk_1': { lun_id: 0 } } } };
  t.clients[C2]!.group_name = 'grp1';
  const plan = planImport(empty(), wanted);
  const paths = plan.steps.map((s) => `${s.method} ${s.path}`);
  assert.ok(!paths.includes(`PUT /api/clientlun/${T}/${C2}`));
  const g = plan.steps.find((s) => s.path === `/api/hostgroup/${T}/grp1`)!;
  assert.deepEqual(g.form, { action: 'add', members: C2, disks: 'rbd/disk_1' });
  assert.ok(paths.indexOf(`PUT /api/hostgroup/${T}/grp1`) > paths.indexOf(`PUT /api/client/${T}/${C2}`));

  const open = fixtureState().config;
  open.targets[T]!.clients = {};
  open.targets[T]!.acl_enabled = false;
  open.targets[T]!.auth = { ...open.targets[T]!.auth, username: 'targetuser1', password: 'targetpassw0rd' };
  const p2 = planImport(empty(), open).steps.filter((s) => s.path === `/api/targetauth/${T}`);
  assert.deepEqual(p2.map((s) => s.form), [{ action: 'disable_acl' }, { username: 'targetuser1', password: 'targetpassw0rd', mutual_username: '', mutual_password: '' }]);
});
