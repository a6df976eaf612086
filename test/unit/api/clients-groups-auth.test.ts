/** Client, client LUN, host group, discovery/target/client CHAP rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, TARGET, makeHarness, msg, seedFlow, session } from './helpers.js';

const C2 = 'iqn.1994-05.com.redhat:client2';
const C3 = 'iqn.1994-05.com.redhat:client3';

test('client create: invalid IQN, duplicate, target CHAP on, too few gateways', async () => {
  const h = makeHarness({ settings: { minimum_gateways: 2 } });
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    let r = await h.call('PUT', `/api/client/${TARGET}/not-an-iqn`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid iqn not-an-iqn - WWN not valid as: iqn']);
    r = await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Clients can not be defined until a HA configuration has been defined (>2 gateways)']);
    await h.call('PUT', `/api/gateway/${TARGET}/gw1.example.com`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${TARGET}/gw2.example.com`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    r = await h.call('PUT', `/api/client/${TARGET}/${CLIENT.toUpperCase().replace('IQN', 'iqn')}`);
    assert.equal(r.statusCode, 200);
    assert.deepEqual(Object.keys(h.store.current().targets[TARGET]?.clients ?? {}), [CLIENT]);
    r = await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, `A client with the name '${CLIENT}' is already defined`]);

    // Target CHAP needs ACLs off, which needs no clients.
    await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    r = await h.call('PUT', `/api/targetauth/${TARGET}`, { form: { action: 'disable_acl' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'target auth disable_acl - successful']);
    r = await h.call('PUT', `/api/targetauth/${TARGET}`, { form: { username: 'targetuser1', password: 'targetpassw0rd' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'target auth None - successful']);
    r = await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Cannot create client because target CHAP authentication is enabled']);
  } finally {
    await h.close();
  }
});

test('client delete: 404 unknown, refused in a group or while logged in here', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, `Client ${CLIENT} does not exist in target ${TARGET}`]);
    await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    h.status.sessionList = [session(TARGET, CLIENT)];
    r = await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, `Client '${CLIENT}' is logged in to ${TARGET}- unable to delete until it's logged out`]);
    h.status.sessionList = [];
    await h.call('PUT', `/api/hostgroup/${TARGET}/g1`, { form: { members: CLIENT } });
    r = await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to delete '${CLIENT}' - it belongs to group g1`]);
  } finally {
    await h.close();
  }
});

test('clientauth: credential rules with upstream messages; empty = no CHAP; unknown client 404', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    const url = `/api/clientauth/${TARGET}/${CLIENT}`;
    const cases: Array<[Record<string, string>, string]> = [
      [{ username: 'myiscsiusername' }, 'Password is required'],
      [{ password: 'myiscsipassword' }, 'Username is required'],
      [{ username: 'myiscsiusername', password: 'myiscsipassword', mutual_username: 'mutualuser1' }, 'Mutual password is required'],
      [{ username: 'myiscsiusername', password: 'myiscsipassword', mutual_password: 'mutualpassword1' }, 'Mutual username is required'],
      [{ username: 'short', password: 'myiscsipassword' }, 'Minimum length of username is 8 characters'],
      [{ username: 'myiscsiusername', password: 'short' }, 'Minimum length of password is 12 characters'],
      [{ username: 'myiscsiusername', password: 'waytoolongpassword1' }, 'Maximum length of password is 16 characters'],
      [{ username: 'my iscsi user', password: 'myiscsipassword' }, 'Invalid username'],
      [{ username: 'myiscsiusername', password: 'myiscsi#password' }, 'Invalid password'],
    ];
    for (const [form, message] of cases) {
      const r = await h.call('PUT', url, { form });
      assert.deepEqual([r.statusCode, msg(r)], [400, message], JSON.stringify(form));
    }
    let r = await h.call('PUT', url, { form: { username: 'myiscsiusername', password: 'myiscsipassword' } });
    assert.equal(r.statusCode, 200);
    assert.equal(h.store.current().targets[TARGET]?.clients[CLIENT]?.auth.username, 'myiscsiusername');
    r = await h.call('PUT', url, { form: { username: '', password: '', mutual_username: '', mutual_password: '' } });
    assert.equal(r.statusCode, 200);
    assert.equal(h.store.current().targets[TARGET]?.clients[CLIENT]?.auth.username, '');
    r = await h.call('PUT', `/api/clientauth/${TARGET}/${C2}`, { form: { username: 'myiscsiusername', password: 'myiscsipassword' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, `Client ${C2} does not exist in target ${TARGET}`]);
  } finally {
    await h.close();
  }
});

test('clientlun: disk must be mapped to the target; LUN id = target LUN id; idempotent; delete rules', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    await h.call('PUT', '/api/disk/rbd/unmapped', { form: { mode: 'create', size: '1M' } });
    await h.call('PUT', '/api/disk/rbd/second', { form: { mode: 'create', size: '1M' } });
    await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/second', lun_id: '7' } });
    await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    const url = `/api/clientlun/${TARGET}/${CLIENT}`;
    let r = await h.call('PUT', url, { form: { disk: 'rbd/unmapped' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Disk rbd/unmapped is not defined in target ${TARGET}`]);
    r = await h.call('PUT', url, { form: { disk: 'rbd/ghost' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Disk rbd/ghost is not defined in the configuration']);
    r = await h.call('PUT', url, { form: {} });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'disk is required']);
    r = await h.call('PUT', url, { form: { disk: 'rbd/second' } });
    assert.equal(r.statusCode, 200);
    const writes = h.store.writes;
    r = await h.call('PUT', url, { form: { disk: 'rbd/second' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client masking update successful']);
    assert.equal(h.store.writes, writes, 'already masked: no write');
    r = await h.call('PUT', url, { form: { disk: 'rbd/disk_1' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(h.store.current().targets[TARGET]?.clients[CLIENT]?.luns, { 'rbd/second': { lun_id: 7 }, 'rbd/disk_1': { lun_id: 0 } });
    r = await h.call('DELETE', url, { form: { disk: 'rbd/unmapped' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'disk not mapped to client']);
    r = await h.call('DELETE', url, { form: { disk: 'rbd/second' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client masking update successful']);
    assert.deepEqual(h.store.current().targets[TARGET]?.clients[CLIENT]?.luns, { 'rbd/disk_1': { lun_id: 0 } });
  } finally {
    await h.close();
  }
});

test('host groups: create/add/remove/delete with membership rules', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    await h.call('PUT', '/api/disk/rbd/g1', { form: { mode: 'create', size: '1M' } });
    await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/g1' } });
    await h.call('PUT', `/api/client/${TARGET}/${C2}`);
    await h.call('PUT', `/api/client/${TARGET}/${C3}`);
    const url = `/api/hostgroup/${TARGET}/grp1`;

    let r = await h.call('PUT', url, { form: { action: 'remove', members: C2 } });
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Group name does not exist']);
    r = await h.call('PUT', url, { form: { action: 'merge', members: C2 } });
    assert.deepEqual([r.statusCode, msg(r)], [405, 'Invalid hostgroup action specified']);
    r = await h.call('PUT', `/api/hostgroup/${TARGET}/bad%20name`, { form: { members: C2 } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid group name - max of 32 chars of alphanumeric and -,_,@ characters']);
    r = await h.call('PUT', url, { form: { members: `${C2},${C2}` } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Member must contain unique clients - no duplication']);
    r = await h.call('PUT', url, { form: { members: 'iqn.1994-05.com.redhat:ghost' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "Group request failed validation - client 'iqn.1994-05.com.redhat:ghost' doesn't exist"]);
    r = await h.call('PUT', url, { form: { members: CLIENT } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Group request failed validation - Client '${CLIENT}' already has luns. Only clients without prior lun maps can be added to a group`]);
    r = await h.call('PUT', url, { form: { disks: 'rbd/nothere' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "Group request failed validation - disk 'rbd/nothere' doesn't exist"]);
    assert.deepEqual(h.store.current().targets[TARGET]?.groups, {});

    r = await h.call('PUT', url, { form: { members: C2, disks: 'rbd/g1' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'hostgroup create/update successful']);
    let t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.groups['grp1'], { members: [C2], disks: { 'rbd/g1': { lun_id: 1 } } });
    assert.equal(t?.clients[C2]?.group_name, 'grp1');
    assert.deepEqual(t?.clients[C2]?.luns, { 'rbd/g1': { lun_id: 1 } });

    r = await h.call('PUT', url, { form: { action: 'add', members: C3, disks: 'rbd/disk_1' } });
    assert.equal(r.statusCode, 200, r.body);
    t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.groups['grp1']?.members, [C2, C3]);
    assert.deepEqual(t?.clients[C3]?.luns, { 'rbd/g1': { lun_id: 1 }, 'rbd/disk_1': { lun_id: 0 } });
    assert.deepEqual(t?.clients[C2]?.luns, { 'rbd/g1': { lun_id: 1 }, 'rbd/disk_1': { lun_id: 0 } });

    // A member of grp1 cannot join another group.
    r = await h.call('PUT', `/api/hostgroup/${TARGET}/grp2`, { form: { members: C3 } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Group request failed validation - Client already assigned to grp1 - a client can only belong to one host group']);
    // Group members' disks are managed at group level only.
    r = await h.call('PUT', `/api/clientlun/${TARGET}/${C2}`, { form: { disk: 'rbd/g1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to manage disks for '${C2}' - it belongs to group grp1`]);

    r = await h.call('PUT', url, { form: { action: 'remove', members: C3, disks: 'rbd/g1' } });
    assert.equal(r.statusCode, 200, r.body);
    t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.groups['grp1'], { members: [C2], disks: { 'rbd/disk_1': { lun_id: 0 } } });
    assert.deepEqual(t?.clients[C2]?.luns, { 'rbd/disk_1': { lun_id: 0 } });
    assert.equal(t?.clients[C3]?.group_name, '', 'removed member leaves the group');

    r = await h.call('GET', url);
    assert.deepEqual(r.json(), { members: [C2], disks: { 'rbd/disk_1': { lun_id: 0 } } });
    r = await h.call('GET', `/api/hostgroups/${TARGET}`);
    assert.deepEqual(r.json(), { groups: ['grp1'] });
    r = await h.call('GET', `/api/hostgroup/${TARGET}/nope`);
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Group name does not exist']);

    r = await h.call('DELETE', `/api/hostgroup/${TARGET}/nope`);
    assert.deepEqual([r.statusCode, msg(r)], [404, "Group name 'nope' not found"]);
    r = await h.call('DELETE', url, { form: { action: 'zap' } });
    assert.equal(r.statusCode, 405);
    r = await h.call('DELETE', url);
    assert.deepEqual([r.statusCode, msg(r)], [200, "Group definition 'grp1' deleted"]);
    t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.groups, {});
    assert.equal(t?.clients[C2]?.group_name, '');
    assert.deepEqual(t?.clients[C2]?.luns, { 'rbd/disk_1': { lun_id: 0 } }, 'masking is left as is');
  } finally {
    await h.close();
  }
});

test('discoveryauth: validated, stored in clear; empty disables', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', '/api/discoveryauth', { form: { username: 'discovery1', password: 'short' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Minimum length of password is 12 characters']);
    r = await h.call('PUT', '/api/discoveryauth', {
      form: { username: 'discovery1', password: 'discoverypass1', mutual_username: 'discoverym1', mutual_password: 'discoverympass' },
    });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'discovery auth successful']);
    assert.deepEqual(h.store.current().discovery_auth, {
      username: 'discovery1',
      password: 'discoverypass1',
      password_encryption_enabled: false,
      mutual_username: 'discoverym1',
      mutual_password: 'discoverympass',
      mutual_password_encryption_enabled: false,
    });
    r = await h.call('PUT', '/api/discoveryauth', { form: {} });
    assert.equal(r.statusCode, 200);
    assert.equal(h.store.current().discovery_auth.username, '');
  } finally {
    await h.close();
  }
});

test('targetauth: ACL / target CHAP exclusivity rules', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    const url = `/api/targetauth/${TARGET}`;
    let r = await h.call('PUT', url, { form: { action: 'flip' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid auth flip']);
    r = await h.call('PUT', url, { form: { action: 'disable_acl' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Cannot disable ACL authentication because target has clients']);
    r = await h.call('PUT', url, { form: { username: 'targetuser1', password: 'targetpassw0rd' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Cannot enable target CHAP authentication because ACL authentication is enabled']);
    await h.call('DELETE', `/api/clientlun/${TARGET}/${CLIENT}`, { form: { disk: 'rbd/disk_1' } });
    await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    r = await h.call('PUT', url, { form: { action: 'disable_acl' } });
    assert.equal(r.statusCode, 200);
    assert.equal(h.store.current().targets[TARGET]?.acl_enabled, false);
    r = await h.call('PUT', url, { form: { username: 'targetuser1', password: 'bad' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Minimum length of password is 12 characters']);
    r = await h.call('PUT', url, { form: { username: 'targetuser1', password: 'targetpassw0rd' } });
    assert.equal(r.statusCode, 200);
    assert.equal(h.store.current().targets[TARGET]?.auth.username, 'targetuser1');
    r = await h.call('PUT', url, { form: { action: 'enable_acl' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Cannot enable ACL authentication because target CHAP authentication is enabled']);
    r = await h.call('PUT', url, { form: {} });
    assert.equal(r.statusCode, 200, 'empty credentials clear target CHAP');
    r = await h.call('PUT', url, { form: { action: 'enable_acl' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'target auth enable_acl - successful']);
    assert.equal(h.store.current().targets[TARGET]?.acl_enabled, true);
  } finally {
    await h.close();
  }
});
