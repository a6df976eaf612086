/** Form vs JSON bodies, DELETE with a form body, query strings, the GET body of /api/disks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, TARGET, basic, makeHarness, msg, seedFlow, PASSWORD, USER } from './helpers.js';

test('PUT with a JSON body works like the form body (numbers and objects accepted)', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', '/api/disk/rbd/j1', { json: { mode: 'create', size: '16M', count: 2, controls: { max_data_area_mb: 64 } } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk create/update successful']);
    const doc = h.store.current();
    assert.deepEqual(Object.keys(doc.disks).sort(), ['rbd/j11', 'rbd/j12']);
    assert.deepEqual(doc.disks['rbd/j11']?.controls, { max_data_area_mb: 64 });
    // Form with the controls JSON string inside a field (Dashboard style).
    r = await h.call('PUT', '/api/disk/rbd/f1', { form: { mode: 'create', size: '16M', controls: '{"hw_max_sectors": 2048}' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk create/update successful']);
    assert.deepEqual(h.store.current().disks['rbd/f1']?.controls, { hw_max_sectors: 2048 });
  } finally {
    await h.close();
  }
});

test('DELETE reads its parameters from a form body (Dashboard delete_disk, delete_target_lun)', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_1' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target LUN mapping updated successfully']);
    r = await h.call('DELETE', '/api/disk/rbd/disk_1', { form: { preserve_image: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'disk map deletion successful']);
    assert.equal(await h.backstore.imageSize('rbd', 'disk_1'), 1024 ** 3, 'preserve_image=true keeps the image');
    assert.deepEqual(h.store.current().disks, {});
  } finally {
    await h.close();
  }
});

test('DELETE with a JSON body and with the query string', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('DELETE', `/api/targetlun/${TARGET}`, { json: { disk: 'rbd/disk_1' } });
    assert.equal(r.statusCode, 200, r.body);
    r = await h.call('DELETE', '/api/disk/rbd/disk_1', { query: { preserve_image: 'True' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.ok((await h.backstore.imageSize('rbd', 'disk_1')) !== undefined);
  } finally {
    await h.close();
  }
});

test('GET /api/disks: config=yes from the query string or from a form body sent with GET', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('GET', '/api/disks', { query: { config: 'yes' } });
    const byQuery = r.json<{ disks: Record<string, { pool: string }> }>();
    assert.equal(byQuery.disks['rbd/disk_1']?.pool, 'rbd');
    r = await h.app.inject({
      method: 'GET',
      url: '/api/disks',
      headers: { authorization: basic(USER, PASSWORD), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'config=yes',
    });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json<{ disks: Record<string, { image: string }> }>().disks['rbd/disk_1']?.image, 'disk_1');
    r = await h.call('GET', '/api/disks');
    assert.deepEqual(r.json(), { disks: ['rbd/disk_1'] });
  } finally {
    await h.close();
  }
});

test('malformed JSON and unsupported media types are 4xx with a message, never a 500', async () => {
  const h = makeHarness();
  try {
    let r = await h.app.inject({
      method: 'PUT',
      url: `/api/target/${TARGET}`,
      headers: { authorization: basic(USER, PASSWORD), 'content-type': 'application/json' },
      payload: '{"controls": ',
    });
    assert.equal(r.statusCode, 400);
    assert.equal(typeof msg(r), 'string');
    r = await h.app.inject({
      method: 'PUT',
      url: `/api/target/${TARGET}`,
      headers: { authorization: basic(USER, PASSWORD), 'content-type': 'application/xml' },
      payload: '<a/>',
    });
    assert.equal(r.statusCode, 415);
    assert.equal(h.store.writes, 0);
  } finally {
    await h.close();
  }
});

test('booleans: True/false/yes accepted, anything else is a 400 naming the field', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    const r = await h.call('PUT', `/api/gateway/${TARGET}/gw9.example.com`, { form: { ip_address: '192.168.122.10', skipchecks: 'maybe' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "Invalid 'skipchecks' value maybe (expected true or false)"]);
    const ok = await h.call('PUT', `/api/gateway/${TARGET}/gw9.example.com`, { form: { ip_address: '192.168.122.10', skipchecks: 'True' } });
    assert.equal(ok.statusCode, 200, ok.body);
  } finally {
    await h.close();
  }
});

test('GET /api/config?decrypt_passwords=true returns the whole document with clear passwords', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    await h.call('PUT', `/api/clientauth/${TARGET}/${CLIENT}`, { form: { username: 'myiscsiusername', password: 'myiscsipassword' } });
    const r = await h.call('GET', '/api/config', { query: { decrypt_passwords: 'True' } });
    assert.equal(r.statusCode, 200);
    const doc = r.json<{ version: number; targets: Record<string, { clients: Record<string, { auth: { password: string } }> }> }>();
    assert.equal(doc.version, 11);
    assert.equal(doc.targets[TARGET]?.clients[CLIENT]?.auth.password, 'myiscsipassword');
    assert.deepEqual(doc, JSON.parse(JSON.stringify(h.store.current())));
  } finally {
    await h.close();
  }
});

test('list fields: comma strings, JSON arrays and repeated form keys', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    let r = await h.call('PUT', `/api/gateway/${TARGET}/gw1.example.com`, { json: { ip_address: ['192.168.122.10', '192.168.122.11'], skipchecks: true } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(h.store.current().targets[TARGET]?.ip_list, ['192.168.122.10', '192.168.122.11']);
    r = await h.app.inject({
      method: 'PUT',
      url: `/api/gateway/${TARGET}/gw2.example.com`,
      headers: { authorization: basic(USER, PASSWORD), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'ip_address=192.168.122.20&ip_address=192.168.122.21&skipchecks=true',
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(h.store.current().targets[TARGET]?.portals['gw2.example.com']?.portal_ip_addresses, ['192.168.122.20', '192.168.122.21']);
    r = await h.call('PUT', `/api/gateway/${TARGET}/gw3.example.com`, { form: { ip_address: ' , ', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'ip_address is required']);
  } finally {
    await h.close();
  }
});
