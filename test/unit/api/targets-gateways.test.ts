/** Target and gateway rules: status codes and upstream messages; nothing written on failure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT, GW1, GW2, TARGET, makeHarness, msg, seedFlow } from './helpers.js';

test('target create: normalised IQN, idempotent, invalid IQN/mode/controls are 400', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', `/api/target/${TARGET.toUpperCase().replace('IQN', 'iqn')}`);
    assert.equal(r.statusCode, 200);
    assert.deepEqual(Object.keys(h.store.current().targets), [TARGET], 'IQN lowercased');
    const t = h.store.current().targets[TARGET];
    assert.equal(t?.acl_enabled, true);
    assert.deepEqual(t?.controls, {});
    assert.deepEqual(t?.ip_list, []);
    assert.deepEqual([t?.portals, t?.disks, t?.clients, t?.groups], [{}, {}, {}, {}]);
    assert.equal(typeof t?.created, 'string');
    const writes = h.store.writes;
    r = await h.call('PUT', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target defined successfully']);
    assert.equal(h.store.writes, writes, 'existing target: no write');

    r = await h.call('PUT', '/api/target/iqn.bad_name');
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid iqn iqn.bad_name - WWN not valid as: iqn']);
    r = await h.call('PUT', `/api/target/${TARGET}`, { form: { mode: 'bogus' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Unexpected mode provided for ${TARGET} - bogus`]);
    r = await h.call('PUT', '/api/target/iqn.2003-01.com.example:other', { form: { controls: '{"nope": 1}' } });
    assert.equal(r.statusCode, 400);
    assert.match(msg(r), /^Unexpected or invalid controls - Supported controls: dataout_timeout,/);
    r = await h.call('PUT', '/api/target/iqn.2003-01.com.example:other', { form: { controls: '{not json' } });
    assert.equal(r.statusCode, 400);
    assert.match(msg(r), /^Unexpected or invalid controls - /);
    r = await h.call('PUT', '/api/target/iqn.2003-01.com.example:other', { form: { controls: '{"cmdsn_depth": 4096}' } });
    assert.equal(r.statusCode, 400);
    assert.match(msg(r), /cmdsn_depth/);
    assert.equal(h.store.writes, writes);
  } finally {
    await h.close();
  }
});

test('target reconfigure: merges controls, drops defaults, resets on empty; unknown target 400', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', `/api/target/${TARGET}`, { form: { mode: 'reconfigure', controls: '{"cmdsn_depth": 64}' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `Target: ${TARGET} is not defined.`]);
    await h.call('PUT', `/api/target/${TARGET}`, { form: { controls: '{"nopin_timeout": 10}' } });
    assert.deepEqual(h.store.current().targets[TARGET]?.controls, { nopin_timeout: 10 });
    r = await h.call('PUT', `/api/target/${TARGET}`, { form: { mode: 'reconfigure', controls: '{"cmdsn_depth": "64", "immediate_data": "No"}' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target reconfigured.']);
    assert.deepEqual(h.store.current().targets[TARGET]?.controls, { nopin_timeout: 10, cmdsn_depth: 64, immediate_data: false });
    r = await h.call('PUT', `/api/target/${TARGET}`, { form: { mode: 'reconfigure', controls: '{"cmdsn_depth": 128, "nopin_timeout": ""}' } });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(h.store.current().targets[TARGET]?.controls, { immediate_data: false }, 'default value and empty value both reset');
  } finally {
    await h.close();
  }
});

test('target delete: 404 when unknown; refused while clients or disks exist; drops unused gateways', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('DELETE', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, `Target ${TARGET} does not exist`]);
    await seedFlow(h);
    r = await h.call('DELETE', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Clients(1) and disks(1) must be removed before the gateways']);
    assert.ok(h.store.current().targets[TARGET]);
    await h.call('DELETE', `/api/client/${TARGET}/${CLIENT}`);
    r = await h.call('DELETE', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Clients(0) and disks(1) must be removed before the gateways']);
    await h.call('DELETE', `/api/targetlun/${TARGET}`, { form: { disk: 'rbd/disk_1' } });
    r = await h.call('DELETE', `/api/target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Target deleted.']);
    assert.deepEqual(h.store.current().gateways, {});
    assert.ok(h.store.current().disks['rbd/disk_1'], 'disks stay defined');
  } finally {
    await h.close();
  }
});

test('_target DELETE (clearconfig) removes this gateway only, the target with its last portal', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10', skipchecks: 'true' } });
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    let r = await h.call('DELETE', `/api/_target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway removed successfully']);
    let t = h.store.current().targets[TARGET];
    assert.deepEqual(Object.keys(t?.portals ?? {}), [GW2]);
    assert.deepEqual(t?.ip_list, ['192.168.122.20']);
    assert.equal(h.store.current().gateways[GW1], undefined);
    r = await h.call('DELETE', `/api/_target/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, `Gateway ${GW1} is not a portal of target ${TARGET}`]);
    await h.call('DELETE', `/api/gateway/${TARGET}/${GW2}`);
    t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.portals, {}, 'gateway delete keeps the target');
    r = await h.call('DELETE', `/api/_target/${TARGET}`);
    assert.equal(r.statusCode, 200);
    assert.deepEqual(h.store.current().targets, {});
  } finally {
    await h.close();
  }
});

test('gateway create: checks and messages', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10' } });
    assert.deepEqual([r.statusCode, msg(r)], [404, `Target ${TARGET} does not exist`]);
    await h.call('PUT', `/api/target/${TARGET}`);
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`);
    assert.deepEqual([r.statusCode, msg(r)], [400, 'ip_address is required']);
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: 'not-an-ip', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "IP address provided is not usable (name doesn't resolve, or not a valid IPv4/IPv6 address)"]);
    r = await h.call('PUT', `/api/gateway/${TARGET}/bad%20name`, { form: { ip_address: '192.168.122.10' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Invalid gateway name bad name']);
    // Without skipchecks, this gateway's IPs must be local.
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '10.1.1.1' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `IP address of 10.1.1.1 is not available on ${GW1}. Valid IPs are :192.168.122.10,192.168.122.11`]);
    // ...and another gateway's name must resolve.
    r = await h.call('PUT', `/api/gateway/${TARGET}/gw-unknown.example.com`, { form: { ip_address: '192.168.122.40' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "Gateway 'gw-unknown.example.com' is not resolvable to an IP address"]);
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.10,192.168.122.11' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway creation successful']);
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway creation successful'], 'gw2 resolves');
    r = await h.call('PUT', `/api/gateway/${TARGET}/${GW1}`, { form: { ip_address: '192.168.122.12', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'Gateway already exists in configuration']);
    r = await h.call('PUT', `/api/gateway/${TARGET}/gw3.example.com`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, 'IP address already defined to the configuration']);
    const t = h.store.current().targets[TARGET];
    assert.deepEqual(t?.ip_list, ['192.168.122.10', '192.168.122.11', '192.168.122.20']);
    assert.deepEqual(t?.portals[GW1]?.inactive_portal_ips, ['192.168.122.20']);
    assert.equal(t?.portals[GW1]?.tpgs, 3);

    // An IP of another gateway in another target cannot be claimed.
    const other = 'iqn.2003-01.com.example:other';
    await h.call('PUT', `/api/target/${other}`);
    r = await h.call('PUT', `/api/gateway/${other}/gw3.example.com`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, `IP address 192.168.122.20 is already used by gateway ${GW2} of target ${TARGET}`]);
    // The same gateway serving a second target on the same IP is fine.
    r = await h.call('PUT', `/api/gateway/${other}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    assert.equal(r.statusCode, 200, r.body);
  } finally {
    await h.close();
  }
});

test('gateway delete: 404 unknown; the last gateway of a target with disks needs force=true', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    let r = await h.call('DELETE', `/api/gateway/${TARGET}/${GW2}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Gateway does not exist in configuration']);
    r = await h.call('DELETE', `/api/gateway/${TARGET}/${GW1}`);
    assert.equal(r.statusCode, 400);
    assert.match(msg(r), /last gateway .* 1 disk\(s\) and 1 client\(s\).*force=true/);
    r = await h.call('DELETE', `/api/gateway/${TARGET}/${GW1}`, { form: { force: 'true' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway deletion successful']);
    const doc = h.store.current();
    const t = doc.targets[TARGET];
    assert.deepEqual([t?.portals, t?.disks, t?.clients, t?.groups, t?.ip_list], [{}, {}, {}, {}, []]);
    assert.equal(doc.disks['rbd/disk_1']?.owner, undefined);
    assert.deepEqual(doc.gateways, {});
  } finally {
    await h.close();
  }
});

test('GET /api/_gateway returns the portal or 404', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    let r = await h.call('GET', `/api/_gateway/${TARGET}/${GW1}`);
    assert.deepEqual(r.json<{ portal_ip_addresses: string[] }>().portal_ip_addresses, ['192.168.122.10']);
    r = await h.call('GET', `/api/_gateway/${TARGET}/${GW2}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, "Gateway doesn't exist in the configuration"]);
  } finally {
    await h.close();
  }
});

test('gateway IPs: bracketed IPv6 accepted, link-local scope kept', async () => {
  const h = makeHarness();
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    const r = await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '[fd00::20], fe80::20%eth0', skipchecks: 'true' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(h.store.current().targets[TARGET]?.ip_list, ['fd00::20', 'fe80::20%eth0']);
    // The allow-list matches a caller's scope-less address against the scoped portal IP.
    const ok = await h.call('GET', '/api/targets', { remoteAddress: 'fe80::20%eth1' });
    assert.equal(ok.statusCode, 200);
  } finally {
    await h.close();
  }
});

test('gateway create without skipchecks asks the new gateway its IPs, settings hash and OS (gwcli valid_gateway)', async () => {
  const { settingsHash } = await import('../../../src/config/settings.js');
  type Answer = { status: number; body: unknown } | undefined;
  const answers: Record<string, Answer> = {};
  const asked: string[] = [];
  const h = makeHarness({
    deps: {
      peers: {
        sysinfo: (gw, q) => {
          asked.push(`${gw}:${q}`);
          return Promise.resolve(answers[q]);
        },
        targetSessions: () => Promise.resolve(undefined),
        clientInfo: () => Promise.resolve(undefined),
      },
    },
  });
  try {
    await h.call('PUT', `/api/target/${TARGET}`);
    const add = () => h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20' } });
    let r = await add();
    assert.deepEqual([r.statusCode, msg(r)], [400, `ip_addresses query to ${GW2} failed - check rbd-target-api log. Is the API server running and in the right mode (http/https)?`]);
    answers['ip_addresses'] = { status: 200, body: { data: ['192.168.122.21'] } };
    r = await add();
    assert.deepEqual([r.statusCode, msg(r)], [400, `IP address of 192.168.122.20 is not available on ${GW2}. Valid IPs are :192.168.122.21`]);
    answers['ip_addresses'] = { status: 200, body: { data: ['192.168.122.20'] } };
    answers['checkconf'] = { status: 200, body: { data: 'other-hash' } };
    r = await add();
    assert.deepEqual([r.statusCode, msg(r)], [400, `/etc/ceph/iscsi-gateway.cfg on ${GW2} does not match the local version. Correct and retry request`]);
    answers['checkconf'] = { status: 200, body: { data: settingsHash(h.settings) } };
    answers['checkversions'] = { status: 500, body: { data: ['OS version is unsupported'] } };
    r = await add();
    assert.deepEqual([r.statusCode, msg(r)], [400, `${GW2} failed package validation checks - OS version is unsupported`]);
    answers['checkversions'] = { status: 200, body: { data: 'checks passed' } };
    r = await add();
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway creation successful']);
    assert.ok(asked.every((a) => a.startsWith(`${GW2}:`)));
    // skipchecks asks nothing.
    const before = asked.length;
    r = await h.call('PUT', `/api/gateway/${TARGET}/gw3.example.com`, { form: { ip_address: '192.168.122.30', skipchecks: 'true' } });
    assert.equal(r.statusCode, 200);
    assert.equal(asked.length, before);
  } finally {
    await h.close();
  }
});

test('maintenance: GET shows the state; PUT state=on|off asks the gateway; a bad state is a 400 naming it', async () => {
  const h = makeHarness();
  let on = false;
  h.status.inMaintenance = () => on;
  h.status.setMaintenance = async (want: boolean) => {
    on = want;
    return { maintenance: want, logoutsRequested: want ? 3 : 0, locksHeld: 0 };
  };
  try {
    let r = await h.call('GET', '/api/maintenance');
    assert.deepEqual(r.json(), { gateway: GW1, maintenance: false });
    r = await h.call('PUT', '/api/maintenance', { form: { state: 'maybe' } });
    assert.deepEqual([r.statusCode, msg(r)], [400, "Invalid state 'maybe': use on or off"]);
    assert.equal(on, false);
    r = await h.call('PUT', '/api/maintenance', { form: { state: 'on' } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json<{ logoutsRequested: number }>().logoutsRequested, 3);
    assert.deepEqual((await h.call('GET', '/api/maintenance')).json(), { gateway: GW1, maintenance: true });
    r = await h.call('PUT', '/api/maintenance', { form: { state: 'off' } });
    assert.deepEqual([r.statusCode, msg(r)], [200, 'Gateway serving']);
    assert.equal(on, false);
  } finally {
    await h.close();
  }
});
