/**
 * The seed flow end to end through inject (Ceph QA rest_api_create.t /
 * rest_api_delete.t order and messages), asserting the resulting document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, GW1, GW2, TARGET, makeHarness, msg } from './helpers.js';

test('create flow: disk → target → gateway → targetlun → client → clientauth → clientlun builds the v11 document', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', '/api/disk/rbd/disk_1', { form: { mode: 'create', size: '1G' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { message: 'disk create/update successful' });
    assert.equal(await h.backstore.imageSize('rbd', 'disk_1'), 1024 ** 3);

    r = await h.call('PUT', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target defined successfully']);

    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway creation successful']);
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway creation successful']);

    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_1' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target LUN mapping updated successfully']);

    r = await h.call('PUT', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client create/update successful']);

    r = await h.call('PUT', `/api/clientauth/${TARGET}/${CLIENT}`, {
      form: { username: 'myiscsiusername', password: 'myiscsipassword', mutual_username: 'mytargetusername', mutual_password: 'mytargetpassword' },
    });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client auth successful']);

    r = await h.call('PUT', `/api/clientlun/${TARGET}/${CLIENT}`, { form: { disk: 'rbd/disk_1' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client masking update successful']);

    const doc = h.store.current();
    const disk = doc.disks['rbd/disk_1'];
    assert.ok(disk);
    assert.equal(disk.pool, 'rbd');
    assert.equal(disk.image, 'disk_1');
    assert.equal(disk.backstore, 'user:rbd');
    assert.equal(disk.backstore_object_name, 'rbd.disk_1');
    assert.equal(disk.allocating_host, GW1);
    assert.equal(disk.owner, GW1, 'owner = first portal with the fewest active LUNs');
    assert.match(disk.wwn, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof disk.pool_id, 'number');
    assert.deepEqual(disk.controls, {});

    const t = doc.targets[TARGET];
    assert.ok(t);
    assert.equal(t.acl_enabled, true);
    assert.deepEqual(t.ip_list, ['192.168.122.10', '192.168.122.20']);
    assert.deepEqual(t.portals[GW1], {
      portal_ip_addresses: ['192.168.122.10'],
      gateway_ip_list: ['192.168.122.10', '192.168.122.20'],
      inactive_portal_ips: ['192.168.122.20'],
      tpgs: 2,
    });
    assert.deepEqual(t.portals[GW2], {
      portal_ip_addresses: ['192.168.122.20'],
      gateway_ip_list: ['192.168.122.10', '192.168.122.20'],
      inactive_portal_ips: ['192.168.122.10'],
      tpgs: 2,
    });
    assert.deepEqual(t.disks, { 'rbd/disk_1': { lun_id: 0 } });
    assert.deepEqual(t.clients[CLIENT], {
      auth: {
        username: 'myiscsiusername',
        password: 'myiscsipassword',
        password_encryption_enabled: false,
        mutual_username: 'mytargetusername',
        mutual_password: 'mytargetpassword',
        mutual_password_encryption_enabled: false,
      },
      group_name: '',
      luns: { 'rbd/disk_1': { lun_id: 0 } },
    });
    assert.deepEqual(Object.keys(doc.gateways).sort(), [GW1, GW2]);
    const gw1 = doc.gateways[GW1] as { active_luns: number };
    const gw2 = doc.gateways[GW2] as { active_luns: number };
    assert.equal(gw1.active_luns, 1);
    assert.equal(gw2.active_luns, 0);
    // Every mutation was applied locally before the answer.
    assert.ok(h.status.reconciles >= 8);

    // GET views
    r = await h.call('GET', '/api/targets');
    assert.deepEqual(r.json(), { targets: [TARGET] });
    r = await h.call('GET', `/api/clients/${TARGET}`);
    assert.deepEqual(r.json(), { clients: [CLIENT] });
    r = await h.call('GET', `/api/gateways/${TARGET}`);
    assert.deepEqual(Object.keys(r.json<Record<string, unknown>>()), [GW1, GW2]);
    r = await h.call('GET', '/api/disks');
    assert.deepEqual(r.json(), { disks: ['rbd/disk_1'] });
    r = await h.call('GET', '/api/disk/rbd/disk_1');
    assert.equal(r.statusCode, 200);
    assert.equal(r.json<{ status: { state: string } }>().status.state, 'Online');
    r = await h.call('GET', `/api/_clientlun/${TARGET}/${CLIENT}`);
    assert.deepEqual(r.json(), { message: { 'rbd/disk_1': { lun_id: 0 } } });
  } finally {
    await h.close();
  }
});

test('second disk goes to the gateway with fewer active LUNs; lowest free LUN id', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    for (const d of ['a', 'b', 'c']) {
      const r = await h.call('PUT', `/api/disk/rbd/${d}`, { form: { mode: 'create', size: '10M' } });
      assert.equal(r.statusCode, 200, r.body);
    }
    let r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/a', lun_id: '1' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/b' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('PUT', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/c' } });
    assert.equal(r.statusCode, 200, r.body);
    const doc = h.store.current();
    const t = doc.targets[TARGET];
    assert.deepEqual(t?.disks, { 'rbd/a': { lun_id: 1 }, 'rbd/b': { lun_id: 0 }, 'rbd/c': { lun_id: 2 } });
    assert.equal(doc.disks['rbd/a']?.owner, GW1);
    assert.equal(doc.disks['rbd/b']?.owner, GW2);
    assert.equal(doc.disks['rbd/c']?.owner, GW1);
    assert.equal((doc.gateways[GW1] as { active_luns: number }).active_luns, 2);

    // Unmapping decrements the owner's count and clears the owner.
    r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/a' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target LUN mapping updated successfully']);
    const after = h.store.current();
    assert.equal(after.disks['rbd/a']?.owner, undefined);
    assert.equal((after.gateways[GW1] as { active_luns: number }).active_luns, 1);

    // Deleting GW1 moves its disk (rbd/c) to GW2.
    r = await h.call('DELETE', `/api/gateway/${TARGET}/${GW1}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway deletion successful']);
    const d2 = h.store.current();
    assert.equal(d2.disks['rbd/c']?.owner, GW2);
    assert.equal((d2.gateways[GW2] as { active_luns: number }).active_luns, 2);
    assert.equal(d2.gateways[GW1], undefined, 'a gateway of no target is dropped');
    assert.deepEqual(d2.targets[TARGET]?.ip_list, ['192.168.122.20']);
    assert.deepEqual(d2.targets[TARGET]?.portals[GW2], {
      portal_ip_addresses: ['192.168.122.20'],
      gateway_ip_list: ['192.168.122.20'],
      inactive_portal_ips: [],
      tpgs: 1,
    });
  } finally {
    await h.close();
  }
});

test('delete flow (rest_api_delete.t): client → targetlun → target → disk, image removed', async () => {
  const h = makeHarness();
  try {
    const { seedFlow } = await import('./helpers.js');
    await seedFlow(h, { disk: 'datapool/block1' });
    let r = await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'client delete successful']);
    r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'datapool/block1' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target LUN mapping updated successfully']);
    r = await h.call('DELETE', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target deleted.']);
    r = await h.call('DELETE', '/api/disk/datapool/block1');
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk map deletion successful']);
    const doc = h.store.current();
    assert.deepEqual(doc.targets, {});
    assert.deepEqual(doc.disks, {});
    assert.deepEqual(doc.gateways, {});
    assert.equal(await h.backstore.imageSize('datapool', 'block1'), undefined);
  } finally {
    await h.close();
  }
});
