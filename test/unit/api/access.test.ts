/** IP allow-list (403), Basic auth (401), open and basic-only routes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRemoteAddress, parseBasicAuth, safeEqual } from '../../../src/api/access.js';
import { GW1, GW2, PASSWORD, TARGET, USER, basic, makeHarness, msg } from './helpers.js';

test('normalizeRemoteAddress strips %scope and ::ffff:', () => {
  assert.equal(normalizeRemoteAddress('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(normalizeRemoteAddress('fe80::1%eth0'), 'fe80::1');
  assert.equal(normalizeRemoteAddress('::ffff:10.1.2.3%2'), '10.1.2.3');
  assert.equal(normalizeRemoteAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeRemoteAddress('::1'), '::1');
});

test('parseBasicAuth and safeEqual', () => {
  assert.deepEqual(parseBasicAuth(basic('a', 'b:c')), { user: 'a', password: 'b:c' });
  assert.equal(parseBasicAuth(undefined), undefined);
  assert.equal(parseBasicAuth('Bearer xyz'), undefined);
  assert.equal(parseBasicAuth(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
  assert.equal(safeEqual('abc', 'abc'), true);
  assert.equal(safeEqual('abc', 'abcd'), false);
});

test('403 from an untrusted IP (before credentials are looked at), with the normalised address', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('GET', '/api/targets', { remoteAddress: '203.0.113.7' });
    assert.deepEqual([r.statusCode, msg(r)], [403, 'API access not available to 203.0.113.7']);
    r = await h.call('GET', '/api/targets', { remoteAddress: '::ffff:203.0.113.7', auth: null });
    assert.deepEqual([r.statusCode, msg(r)], [403, 'API access not available to 203.0.113.7']);
    // A mutation from there writes nothing.
    r = await h.call('PUT', `/api/target/${TARGET}`, { remoteAddress: '203.0.113.7' });
    assert.equal(r.statusCode, 403);
    assert.equal(h.store.writes, 0);
  } finally {
    await h.close();
  }
});

test('allowed sources: loopback, trusted_ip_list, this host, target ip_list, resolved gateway names', async () => {
  const h = makeHarness();
  try {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.9.9.9', '192.168.122.11']) {
      const r = await h.call('GET', '/api/targets', { remoteAddress: ip });
      assert.equal(r.statusCode, 200, `${ip}: ${r.body}`);
    }
    // 192.168.122.30 is a portal IP of a target; 192.168.122.20 is what gw2's name resolves to.
    assert.equal((await h.call('GET', '/api/targets', { remoteAddress: '192.168.122.30' })).statusCode, 403);
    assert.equal((await h.call('GET', '/api/targets', { remoteAddress: '192.168.122.20' })).statusCode, 403);
    await h.call('PUT', `/api/target/${TARGET}`);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.30', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.31', skipchecks: 'true' } });
    assert.equal((await h.call('GET', '/api/targets', { remoteAddress: '192.168.122.30' })).statusCode, 200);
    assert.equal((await h.call('GET', '/api/targets', { remoteAddress: '192.168.122.20' })).statusCode, 200);
    assert.equal((await h.call('GET', '/api/targets', { remoteAddress: '192.168.122.99' })).statusCode, 403);
  } finally {
    await h.close();
  }
});

test('401: missing credentials, wrong user, wrong password, malformed header', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('GET', '/api/config', { auth: null });
    assert.deepEqual([r.statusCode, msg(r)], [401, 'Missing credentials']);
    r = await h.call('GET', '/api/config', { auth: 'Basic !!!' });
    assert.deepEqual([r.statusCode, msg(r)], [401, 'Missing credentials']);
    r = await h.call('GET', '/api/config', { auth: basic('root', PASSWORD) });
    assert.deepEqual([r.statusCode, msg(r)], [401, 'username/password mismatch with the configuration file']);
    r = await h.call('GET', '/api/config', { auth: basic(USER, 'nope') });
    assert.deepEqual([r.statusCode, msg(r)], [401, 'username/password mismatch with the configuration file']);
    r = await h.call('PUT', `/api/target/${TARGET}`, { auth: basic(USER, 'nope') });
    assert.equal(r.statusCode, 401);
    assert.equal(h.store.writes, 0);
  } finally {
    await h.close();
  }
});

test('GET /api is open; /api/sysinfo needs Basic auth only (any source IP)', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('GET', '/api', { auth: null, remoteAddress: '203.0.113.7' });
    assert.equal(r.statusCode, 200);
    const rows = r.json<{ api: Array<[string, string, string[]]> }>().api;
    const urls = rows.map((row) => row[0].split(' : ')[0]);
    assert.ok(urls.includes('/api/target/<target_iqn>'), urls.join('\n'));
    assert.ok(urls.includes('/api/disk/<pool>/<image>'));
    assert.ok(!urls.some((u) => u?.includes('/_')), 'internal routes are not listed');
    const target = rows.find((row) => row[0].startsWith('/api/target/<target_iqn> : '));
    assert.equal(target?.[1], 'Methods: PUT,DELETE');

    r = await h.call('GET', '/api/sysinfo/hostname', { auth: null, remoteAddress: '203.0.113.7' });
    assert.deepEqual([r.statusCode, msg(r)], [401, 'Missing credentials']);
    r = await h.call('GET', '/api/sysinfo/hostname', { remoteAddress: '203.0.113.7' });
    assert.deepEqual([r.statusCode, r.json()], [200, { data: GW1 }]);
  } finally {
    await h.close();
  }
});

test('unknown routes answer 404 with a message', async () => {
  const h = makeHarness();
  try {
    const r = await h.call('GET', '/api/nothing-here');
    assert.equal(r.statusCode, 404);
    assert.match(msg(r), /not a known API route/);
  } finally {
    await h.close();
  }
});

test('GET /api lists every public rbd-target-api route', async () => {
  const h = makeHarness();
  try {
    const rows = (await h.call('GET', '/api', { auth: null })).json<{ api: Array<[string, string, string[]]> }>().api;
    const listed = new Map(rows.map((row) => [row[0].split(' : ')[0], row[1]]));
    const upstream: Record<string, string> = {
      '/api': 'GET',
      '/api/sysinfo/<query_type>': 'GET',
      '/api/targets': 'GET',
      '/api/target/<target_iqn>': 'PUT,DELETE',
      '/api/config': 'GET',
      '/api/gateways/<target_iqn>': 'GET',
      '/api/gateway/<target_iqn>/<gateway_name>': 'PUT,DELETE',
      '/api/targetlun/<target_iqn>': 'PUT,DELETE',
      '/api/disks': 'GET',
      '/api/disk/<pool>/<image>': 'GET,PUT,DELETE',
      '/api/disksnap/<pool>/<image>/<name>': 'PUT,DELETE',
      '/api/discoveryauth': 'PUT',
      '/api/targetauth/<target_iqn>': 'PUT',
      '/api/targetinfo/<target_iqn>': 'GET',
      '/api/gatewayinfo': 'GET',
      '/api/clients/<target_iqn>': 'GET',
      '/api/clientauth/<target_iqn>/<client_iqn>': 'PUT',
      '/api/clientlun/<target_iqn>/<client_iqn>': 'PUT,DELETE',
      '/api/client/<target_iqn>/<client_iqn>': 'PUT,DELETE',
      '/api/clientinfo/<target_iqn>/<client_iqn>': 'GET',
      '/api/hostgroups/<target_iqn>': 'GET',
      '/api/hostgroup/<target_iqn>/<group_name>': 'GET,PUT,DELETE',
      '/api/settings': 'GET',
    };
    // ours, beyond upstream (documented in the listing too)
    const extensions: Record<string, string> = { '/api/cluster': 'GET', '/api/maintenance': 'GET,PUT' };
    for (const [url, methods] of Object.entries({ ...upstream, ...extensions })) {
      assert.equal(listed.get(url), `Methods: ${methods}`, url);
    }
    assert.equal(listed.size, Object.keys(upstream).length + Object.keys(extensions).length, [...listed.keys()].join('\n'));
    for (const row of rows) assert.ok(!row[0].endsWith('Missing description'), `${row[0]} has no doc`);
  } finally {
    await h.close();
  }
});
