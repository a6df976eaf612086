/**
 * The Ceph Dashboard's call sequence (mgr/dashboard controllers/iscsi.py _create /
 * _delete through services/iscsi_client.py: GET = query string, PUT/DELETE = form
 * body), replayed against the API, then the reads the Dashboard renders from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GW1, GW2, TARGET, makeHarness, msg } from './helpers.js';

const C1 = 'iqn.1994-05.com.redhat:rh7-client';
const C2 = 'iqn.1994-05.com.redhat:rh7-client2';

test('Dashboard create, read and delete sequence', async () => {
  const h = makeHarness({ settings: { minimum_gateways: 2 } });
  const ok = async (method: 'PUT' | 'DELETE', url: string, form: Record<string, string> = {}): Promise<void> => {
    const r = await h.call(method, url, { form });
    assert.equal(r.statusCode, 200, `${method} ${url}: ${r.body}`);
  };
  try {
    // The Dashboard never creates images through this API: they exist already (created with librbd).
    await h.backstore.createImage('rbd', 'lun0', 64 * 1024 * 1024);
    await h.backstore.createImage('rbd', 'lun1', 64 * 1024 * 1024);

    // ping + settings first (validate_rest_api, form defaults)
    assert.equal((await h.call('GET', '/api/_ping')).statusCode, 200);
    const settings = (await h.call('GET', '/api/settings')).json<{ config: { minimum_gateways: number }; api_version: number }>();
    assert.equal(settings.config.minimum_gateways, 2);
    assert.equal(settings.api_version, 2);

    await ok('PUT', `/api/target/${TARGET}`, { controls: '{}' });
    await ok('PUT', `/api/gateway/${TARGET}/${GW1}`, { ip_address: '192.168.122.10', skipchecks: 'true' });
    await ok('PUT', `/api/gateway/${TARGET}/${GW2}`, { ip_address: '192.168.122.20', skipchecks: 'true' });
    await ok('PUT', '/api/disk/rbd/lun0', { mode: 'create', backstore: 'user:rbd', wwn: '2a5b9ee3-a2c4-4d1e-bd15-7a8f0c6e3f01' });
    await ok('PUT', `/api/targetlun/${TARGET}`, { disk: 'rbd/lun0' });
    await ok('PUT', '/api/disk/rbd/lun0', { mode: 'reconfigure', controls: JSON.stringify({ hw_max_sectors: 2048, max_data_area_mb: 8 }) });
    await ok('PUT', '/api/disk/rbd/lun1', { mode: 'create', backstore: 'user:rbd' });
    await ok('PUT', `/api/targetlun/${TARGET}`, { disk: 'rbd/lun1', lun_id: '3' });
    await ok('PUT', `/api/client/${TARGET}/${C1}`);
    await ok('PUT', `/api/clientlun/${TARGET}/${C1}`, { disk: 'rbd/lun0' });
    await ok('PUT', `/api/clientauth/${TARGET}/${C1}`, { username: 'myiscsiusername', password: 'myiscsipassword', mutual_username: '', mutual_password: '' });
    await ok('PUT', `/api/client/${TARGET}/${C2}`);
    await ok('PUT', `/api/clientauth/${TARGET}/${C2}`, { username: '', password: '', mutual_username: '', mutual_password: '' });
    await ok('PUT', `/api/hostgroup/${TARGET}/mygroup`, { members: C2, disks: 'rbd/lun1' });
    await ok('PUT', `/api/targetauth/${TARGET}`, { username: '', password: '', mutual_username: '', mutual_password: '' });
    await ok('PUT', `/api/targetauth/${TARGET}`, { action: 'enable_acl' });
    await ok('PUT', `/api/target/${TARGET}`, { mode: 'reconfigure', controls: JSON.stringify({ cmdsn_depth: 64 }) });
    await ok('PUT', '/api/discoveryauth', { username: 'discoveryuser', password: 'discoverypass1', mutual_username: '', mutual_password: '' });

    // What the Dashboard reads back.
    const cfg = (await h.call('GET', '/api/config', { query: { decrypt_passwords: 'True' } })).json<{
      version: number;
      gateways: Record<string, unknown>;
      disks: Record<string, { controls: Record<string, unknown>; wwn: string; backstore: string }>;
      targets: Record<string, {
        acl_enabled: boolean;
        controls: Record<string, unknown>;
        portals: Record<string, { portal_ip_addresses: string[] }>;
        disks: Record<string, { lun_id: number }>;
        clients: Record<string, { luns: Record<string, { lun_id: number }>; auth: { username: string; password: string }; group_name: string }>;
        groups: Record<string, { members: string[]; disks: Record<string, { lun_id: number }> }>;
      }>;
      discovery_auth: { username: string; password: string };
    }>();
    assert.ok(cfg.version >= 10 && cfg.version <= 11);
    assert.deepEqual(Object.keys(cfg.gateways).sort(), [GW1, GW2]);
    assert.equal(cfg.disks['rbd/lun0']?.wwn, '2a5b9ee3-a2c4-4d1e-bd15-7a8f0c6e3f01');
    assert.deepEqual(cfg.disks['rbd/lun0']?.controls, { hw_max_sectors: 2048 }, 'defaults are not stored');
    const t = cfg.targets[TARGET];
    assert.ok(t);
    assert.equal(t.acl_enabled, true);
    assert.deepEqual(t.controls, { cmdsn_depth: 64 });
    assert.deepEqual(t.portals[GW2]?.portal_ip_addresses, ['192.168.122.20']);
    assert.deepEqual(t.disks, { 'rbd/lun0': { lun_id: 0 }, 'rbd/lun1': { lun_id: 3 } });
    assert.deepEqual(t.clients[C1]?.luns, { 'rbd/lun0': { lun_id: 0 } });
    assert.equal(t.clients[C1]?.auth.password, 'myiscsipassword');
    assert.deepEqual(t.clients[C2]?.luns, { 'rbd/lun1': { lun_id: 3 } });
    assert.equal(t.clients[C2]?.group_name, 'mygroup');
    assert.deepEqual(t.groups['mygroup'], { members: [C2], disks: { 'rbd/lun1': { lun_id: 3 } } });
    assert.deepEqual([cfg.discovery_auth.username, cfg.discovery_auth.password], ['discoveryuser', 'discoverypass1']);
    assert.deepEqual((await h.call('GET', `/api/targetinfo/${TARGET}`)).json(), { num_sessions: 0 });
    assert.deepEqual((await h.call('GET', `/api/clientinfo/${TARGET}/${C1}`)).json(), { alias: '', state: {}, ip_address: [] });
    assert.deepEqual((await h.call('GET', '/api/gatewayinfo')).json(), { num_sessions: 0 });

    // _delete: groups, client LUNs/clients, target LUNs, disks (keep images), target.
    await ok('DELETE', `/api/hostgroup/${TARGET}/mygroup`);
    await ok('DELETE', `/api/clientlun/${TARGET}/${C1}`, { disk: 'rbd/lun0' });
    await ok('DELETE', `/api/client/${TARGET}/${C1}`);
    // C2 keeps the group's LUN after the group is gone (upstream leaves masking as is).
    const r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/lun1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unable to delete rbd/lun1 - allocated to ${C2}`]);
    await ok('DELETE', `/api/clientlun/${TARGET}/${C2}`, { disk: 'rbd/lun1' });
    await ok('DELETE', `/api/client/${TARGET}/${C2}`);
    await ok('DELETE', `/api/targetlun/${TARGET}`, { disk: 'rbd/lun0' });
    await ok('DELETE', `/api/targetlun/${TARGET}`, { disk: 'rbd/lun1' });
    await ok('DELETE', '/api/disk/rbd/lun0', { preserve_image: 'true' });
    await ok('DELETE', '/api/disk/rbd/lun1', { preserve_image: 'true' });
    await ok('DELETE', `/api/target/${TARGET}`);
    const end = h.store.current();
    assert.deepEqual([end.targets, end.disks, end.gateways], [{}, {}, {}]);
    assert.deepEqual(await h.backstore.listImages('rbd'), ['lun0', 'lun1'], 'images preserved');
  } finally {
    await h.close();
  }
});
