/** _ping, settings, sysinfo, targetinfo/gatewayinfo/clientinfo, TLS options, error mapping. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiServerOptions } from '../../../src/api/server.js';
import { parseOsRelease, versionErrors } from '../../../src/api/routes/status.js';
import { ApiError, messageForError, statusForError } from '../../../src/api/errors.js';
import { settingsHash } from '../../../src/config/settings.js';
import { GatewayError } from '../../../src/util/errors.js';
import { CLIENT, GW1, GW2, TARGET, makeHarness, msg, seedFlow, session } from './helpers.js';

test('_ping: 200 before this host is a gateway; 503 when it is one and iSCSI is down', async () => {
  const h = makeHarness();
  try {
    h.status.listening = false;
    let r = await h.call('GET', '/api/_ping');
    assert.deepEqual([r.statusCode, msg(r)], [200, 'pong']);
    await seedFlow(h, { withClient: false });
    r = await h.call('GET', '/api/_ping');
    assert.deepEqual([r.statusCode, msg(r)], [503, 'pong']);
    h.status.listening = true;
    r = await h.call('GET', '/api/_ping');
    assert.deepEqual([r.statusCode, msg(r)], [200, 'pong']);
  } finally {
    await h.close();
  }
});

test('/api/settings has the Dashboard shape', async () => {
  const h = makeHarness({ settings: { minimum_gateways: 3 } });
  try {
    const r = await h.call('GET', '/api/settings');
    assert.equal(r.statusCode, 200);
    const s = r.json<Record<string, unknown>>();
    assert.equal(s['api_version'], 2);
    assert.deepEqual(s['config'], { minimum_gateways: 3 });
    assert.deepEqual(s['backstores'], ['user:rbd']);
    assert.equal(s['default_backstore'], 'user:rbd');
    assert.deepEqual(s['required_rbd_features'], { 'user:rbd': 4 });
    assert.deepEqual(s['unsupported_rbd_features'], { 'user:rbd': 0 });
    const tdc = s['target_default_controls'] as Record<string, unknown>;
    assert.equal(tdc['cmdsn_depth'], 128);
    assert.equal(tdc['immediate_data'], true);
    const tcl = s['target_controls_limits'] as Record<string, unknown>;
    assert.deepEqual(tcl['cmdsn_depth'], { min: 1, max: 512, type: 'int' });
    assert.deepEqual(tcl['initial_r2t'], { type: 'bool' });
    const ddc = s['disk_default_controls'] as Record<string, Record<string, unknown>>;
    assert.equal(ddc['user:rbd']?.['max_data_area_mb'], 8);
    const dcl = s['disk_controls_limits'] as Record<string, Record<string, unknown>>;
    assert.deepEqual(dcl['user:rbd']?.['hw_max_sectors'], { min: 1, max: 8192, type: 'int' });
  } finally {
    await h.close();
  }
});

test('/api/sysinfo: ip_addresses, hostname, checkconf, checkversions, unknown', async () => {
  const h = makeHarness();
  try {
    let r = await h.call('GET', '/api/sysinfo/ip_addresses');
    assert.deepEqual(r.json(), { data: ['192.168.122.10', '192.168.122.11'] });
    r = await h.call('GET', '/api/sysinfo/hostname');
    assert.deepEqual(r.json(), { data: GW1 });
    r = await h.call('GET', '/api/sysinfo/checkconf');
    assert.deepEqual(r.json(), { data: settingsHash(h.settings) });
    r = await h.call('GET', '/api/sysinfo/checkversions');
    assert.deepEqual([r.statusCode, r.json()], [200, { data: 'checks passed' }]);
    r = await h.call('GET', '/api/sysinfo/bogus');
    assert.deepEqual([r.statusCode, msg(r)], [404, 'Unknown /sysinfo query']);
  } finally {
    await h.close();
  }
  const old = makeHarness({ deps: { osRelease: () => Promise.resolve({ ID: 'debian', VERSION_ID: '9' }) } });
  try {
    const r = await old.call('GET', '/api/sysinfo/checkversions');
    assert.deepEqual([r.statusCode, r.json()], [500, { data: ['OS version is unsupported'] }]);
  } finally {
    await old.close();
  }
});

test('versionErrors and parseOsRelease', () => {
  assert.deepEqual(parseOsRelease('ID=debian\nVERSION_ID="12"\n# c\nPRETTY_NAME="Debian GNU/Linux 12"'), {
    ID: 'debian',
    VERSION_ID: '12',
    PRETTY_NAME: 'Debian GNU/Linux 12',
  });
  assert.deepEqual(versionErrors({ ID: 'debian', VERSION_ID: '12' }, 'linux', 'v20.19.0'), []);
  assert.deepEqual(versionErrors({ ID: 'ubuntu', VERSION_ID: '16.04' }, 'linux', 'v20.1.0'), ['OS version is unsupported']);
  assert.deepEqual(versionErrors({ ID: 'centos', VERSION_ID: '7.9.2009' }, 'linux', 'v22.0.0'), []);
  assert.deepEqual(versionErrors({ ID: 'rocky', VERSION_ID: '7.3' }, 'linux', 'v22.0.0'), ['OS version is unsupported']);
  assert.deepEqual(versionErrors({ ID: 'arch' }, 'linux', 'v22.0.0'), [], 'other Linux passes (user-space only)');
  assert.deepEqual(versionErrors({}, 'darwin', 'v18.0.0'), ['OS is unsupported', 'Node.js version is unsupported (>= 20 required)']);
});

test('targetinfo / gatewayinfo / clientinfo from this gateway and its peers', async () => {
  const asked: string[] = [];
  const h = makeHarness({
    deps: {
      peers: {
        targetSessions: (gw, iqn) => {
          asked.push(`t:${gw}:${iqn}`);
          return Promise.resolve(gw === GW2 ? 1 : undefined);
        },
        clientInfo: (gw, _iqn, client) => {
          asked.push(`c:${gw}:${client}`);
          return Promise.resolve(gw === GW2 ? { alias: 'client-alias', state: 'LOGGED_IN', ip_address: ['10.0.0.60', '10.0.0.50'] } : undefined);
        },
      },
    },
  });
  try {
    let r = await h.call('GET', `/api/targetinfo/${TARGET}`);
    assert.deepEqual([r.statusCode, msg(r)], [404, `Target ${TARGET} does not exist`]);
    r = await h.call('GET', '/api/gatewayinfo');
    assert.deepEqual([r.statusCode, msg(r)], [404, `Gateway ${GW1} does not exist in configuration`]);
    await seedFlow(h);
    await h.call('PUT', `/api/gateway/${TARGET}/${GW2}`, { form: { ip_address: '192.168.122.20', skipchecks: 'true' } });
    h.status.sessionList = [session(TARGET, CLIENT), session('iqn.2003-01.com.example:other', CLIENT)];
    r = await h.call('GET', `/api/targetinfo/${TARGET}`);
    assert.deepEqual(r.json(), { num_sessions: 2 });
    r = await h.call('GET', `/api/_targetinfo/${TARGET}`);
    assert.deepEqual(r.json(), { num_sessions: 1 });
    r = await h.call('GET', '/api/gatewayinfo');
    assert.deepEqual(r.json(), { num_sessions: 1 });
    r = await h.call('GET', `/api/clientinfo/${TARGET}/${CLIENT}`);
    assert.deepEqual(r.json(), { alias: 'client-alias', state: { LOGGED_IN: [GW1, GW2] }, ip_address: ['10.0.0.50', '10.0.0.60'] });
    assert.deepEqual(asked, [`t:${GW2}:${TARGET}`, `c:${GW2}:${CLIENT}`], 'only the other portals are asked');
    r = await h.call('GET', `/api/_clientinfo/${TARGET}/${CLIENT}`);
    assert.deepEqual(r.json(), { alias: 'client-alias', state: 'LOGGED_IN', ip_address: ['10.0.0.50'] });
    h.status.sessionList = [];
    r = await h.call('GET', `/api/_clientinfo/${TARGET}/${CLIENT}`);
    assert.deepEqual(r.json(), { alias: '', state: '', ip_address: [] });
    r = await h.call('GET', `/api/clientinfo/${TARGET}/iqn.1994-05.com.redhat:nobody`);
    assert.equal(r.statusCode, 404);
  } finally {
    await h.close();
  }
});

test('a failing local reconcile does not fail the committed request', async () => {
  const h = makeHarness();
  try {
    h.status.reconcileError = new Error('portal bind failed');
    const r = await h.call('PUT', `/api/target/${TARGET}`);
    assert.equal(r.statusCode, 200);
    assert.ok(h.store.current().targets[TARGET]);
  } finally {
    await h.close();
  }
});

test('apiServerOptions: plain HTTP, TLS files read, clear error when missing', () => {
  const h = makeHarness();
  const base = h.settings;
  void h.close();
  assert.deepEqual(apiServerOptions({ ...base, api_secure: false }), {});
  const dir = mkdtempSync(join(tmpdir(), 'api-tls-'));
  writeFileSync(join(dir, 'c.crt'), 'CERT');
  writeFileSync(join(dir, 'k.key'), 'KEY');
  const o = apiServerOptions({ ...base, api_secure: true, api_cert: join(dir, 'c.crt'), api_key: join(dir, 'k.key') });
  assert.equal(o.https?.cert.toString(), 'CERT');
  assert.equal(o.https?.key.toString(), 'KEY');
  assert.throws(
    () => apiServerOptions({ ...base, api_secure: true, api_cert: join(dir, 'missing.crt'), api_key: join(dir, 'k.key') }),
    (err: unknown) => err instanceof GatewayError && err.code === 'ERR_CONFIG_INVALID' && /certificate .*missing\.crt/.test(err.message),
  );
});

test('error mapping: ApiError, GatewayError codes, fastify 4xx, unknown → 500 Unhandled exception', () => {
  assert.equal(statusForError(new ApiError(405, 'x')), 405);
  assert.equal(statusForError(new GatewayError('ERR_BACKSTORE_NOT_FOUND', 'x')), 404);
  assert.equal(statusForError(new GatewayError('ERR_BACKSTORE_EXISTS', 'x')), 409);
  assert.equal(statusForError(new GatewayError('ERR_CONFIG_INVALID', 'x')), 400);
  assert.equal(statusForError(new GatewayError('ERR_CONFIG_INVALID_IQN', 'x')), 400);
  assert.equal(statusForError(new GatewayError('ERR_BACKSTORE_TIMEOUT', 'x')), 503);
  assert.equal(statusForError(new GatewayError('ERR_CONFIG_LOCK_TIMEOUT', 'x')), 503);
  assert.equal(statusForError(new GatewayError('ERR_CONFIG_CLOSED', 'x')), 503);
  assert.equal(statusForError(new GatewayError('ERR_CONFIG_IO', 'x')), 500);
  assert.equal(statusForError(Object.assign(new Error('too big'), { statusCode: 413 })), 413);
  assert.equal(statusForError(new Error('boom')), 500);
  assert.equal(messageForError(new Error('boom'), 500), 'Unhandled exception: boom');
  assert.equal(messageForError(new ApiError(400, 'bad'), 400), 'bad');
});
