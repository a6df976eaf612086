/** Upstream peers' fan-out calls (`/api/_...`): reconcile and acknowledge; `_gateway` DELETE of this gateway edits the config. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, GW1, GW2, TARGET, makeHarness, msg, seedFlow } from './helpers.js';

test('fan-out routes from an upstream peer reconcile this gateway and answer 200 with upstream texts', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    const calls: Array<['PUT' | 'DELETE', string, Record<string, string>, string]> = [
      ['PUT', `/api/_target/${TARGET}`, { mode: 'reconfigure', controls: '{}' }, 'Target reconfigured successfully'],
      ['PUT', `/api/_gateway/${TARGET}/${GW2}`, { gateway_ip_list: '192.168.122.10,192.168.122.20', nosync: 'false' }, 'Gateway defined/mapped'],
      ['PUT', `/api/_targetlun/${TARGET}`, { disk: 'rbd/disk_1', lun_id: '0', owner: GW1, allocating_host: GW2 }, 'LUN mapped'],
      ['PUT', '/api/_disk/rbd/disk_1', { mode: 'resize', size: '2G', pool: 'rbd', owner: GW2 }, 'LUN resized'],
      ['PUT', '/api/_disk/rbd/disk_1', { mode: 'deactivate' }, 'LUN deactivated'],
      ['PUT', '/api/_discoveryauth/', { username: '', password: '' }, 'OK'],
      ['PUT', `/api/_targetauth/${TARGET}`, { committing_host: GW2, action: 'enable_acl', username: '', password: '', mutual_username: '', mutual_password: '' }, 'OK'],
      ['PUT', `/api/_client/${TARGET}/${CLIENT}`, { committing_host: GW2, image_list: 'rbd/disk_1' }, 'Client configured successfully'],
      ['PUT', `/api/_clientlun/${TARGET}/${CLIENT}`, { committing_host: GW2, image_list: 'rbd/disk_1' }, 'Client configured successfully'],
      ['PUT', `/api/_hostgroup/${TARGET}/g1`, { members: '', disks: '' }, 'Group created/updated'],
      ['DELETE', `/api/_client/${TARGET}/${CLIENT}`, { committing_host: GW2 }, 'Client deleted ok'],
    ];
    const before = h.store.current();
    for (const [method, url, form, message] of calls) {
      const reconciles = h.status.reconciles;
      const r = await h.call(method, url, { form });
      assert.deepEqual([r.statusCode, msg(r)], [200, message], url);
      assert.equal(h.status.reconciles, reconciles + 1, `${url} reconciles`);
    }
    assert.deepEqual(h.store.current(), before, 'nothing written from request parameters');
    let r = await h.call('GET', `/api/_client/${TARGET}/${CLIENT}`);
    assert.deepEqual(r.json<{ luns: unknown }>().luns, { 'rbd/disk_1': { lun_id: 0 } });
    r = await h.call('GET', `/api/_client/${TARGET}/iqn.1994-05.com.redhat:x`);
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Client does not exist']);
    r = await h.call('GET', '/api/_disk/rbd/disk_1');
    assert.equal(r.json<{ pool: string }>().pool, 'rbd');
    r = await h.call('GET', `/api/_hostgroup/${TARGET}/g1`);
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Group name does not exist']);
  } finally {
    await h.close();
  }
});

test('_gateway DELETE naming this gateway removes it from the target (upstream remove_from_config)', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    let r = await h.call('DELETE', `/api/_gateway/${TARGET}/${GW2}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway deleted.']);
    assert.ok(h.store.current().targets[TARGET]?.portals[GW2], 'another gateway: nothing written');
    r = await h.call('DELETE', `/api/_gateway/${TARGET}/${GW1}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway deleted.']);
    const doc = h.store.current();
    assert.deepEqual(Object.keys(doc.targets[TARGET]?.portals ?? {}), [GW2]);
    assert.equal(doc.disks['rbd/disk_1']?.owner, GW2, 'disk owner moved to the remaining gateway');
    assert.equal(doc.gateways[GW1], undefined);
  } finally {
    await h.close();
  }
});
