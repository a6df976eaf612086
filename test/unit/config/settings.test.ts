import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_SETTINGS_PATH,
  defaultFqdn,
  defaultSettings,
  loadSettings,
  loadSettingsWithWarnings,
  parseIni,
  settingsHash,
} from '../../../src/config/settings.js';
import { GatewayError } from '../../../src/util/errors.js';

const host = (): string => 'gw1.example.com';

async function cfg(text: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'settings-'));
  const p = path.join(dir, 'iscsi-gateway.cfg');
  await fsp.writeFile(p, text);
  return p;
}

function invalid(re: RegExp) {
  return (e: unknown): boolean => e instanceof GatewayError && e.code === 'ERR_CONFIG_INVALID' && re.test(e.message);
}

test('built-in defaults: upstream SYS_SETTINGS (api_secure false) plus ours', () => {
  const s = defaultSettings({ hostname: host, cwd: '/srv/gw' });
  assert.equal(s.cluster_name, 'ceph');
  assert.equal(s.pool, 'rbd');
  assert.equal(s.cluster_client_name, 'client.admin');
  assert.equal(s.gateway_conf, 'gateway.conf');
  assert.equal(s.ceph_config_dir, '/etc/ceph');
  assert.equal(s.api_host, '::');
  assert.equal(s.api_port, 5000);
  assert.equal(s.api_secure, false);
  assert.equal(s.api_ssl_verify, false);
  assert.equal(s.api_user, 'admin');
  assert.equal(s.api_password, 'admin');
  assert.deepEqual(s.trusted_ip_list, []);
  assert.equal(s.minimum_gateways, 1);
  assert.equal(s.time_out, 30);
  assert.equal(s.loop_delay, 2);
  assert.equal(s.priv_key, 'iscsi-gateway.key');
  assert.equal(s.pub_key, 'iscsi-gateway-pub.key');
  assert.equal(s.prometheus_exporter, true);
  assert.equal(s.prometheus_host, '::');
  assert.equal(s.prometheus_port, 9287);
  assert.equal(s.alua_failover_type, 'implicit');
  assert.equal(s.logger_level, 10);
  assert.equal(s.log_to_stderr, false);
  assert.equal(s.log_to_stderr_prefix, '');
  assert.equal(s.log_to_file, true);
  assert.equal(s.debug, false);
  assert.equal(s.ceph_user, 'admin');
  assert.equal(s.backstore, 'file');
  assert.equal(s.data_dir, '/srv/gw/data');
  assert.equal(s.config_store, 'file');
  assert.equal(s.iscsi_port, 3260);
  assert.equal(s.gateway_name, 'gw1.example.com');
  assert.equal(s.api_cert, '/etc/ceph/iscsi-gateway.crt');
  assert.equal(s.api_key, '/etc/ceph/iscsi-gateway.key');
  assert.equal(s.target_defaults.cmdsn_depth, 128);
  assert.equal(s.target_defaults.immediate_data, true);
  assert.equal(s.disk_defaults.max_data_area_mb, 8);
  assert.equal(s.lock_lost_cnt_threshhold, 12);
  assert.equal(s.status_check_interval, 10);
  assert.equal(s.stable_state_reset_count, 3);
});

test('no path: defaults (or /etc/ceph/iscsi-gateway.cfg when present); a missing explicit path is an error', async () => {
  const r = loadSettingsWithWarnings({ env: {}, hostname: host });
  assert.equal(r.path, existsSync(DEFAULT_SETTINGS_PATH) ? DEFAULT_SETTINGS_PATH : undefined);
  assert.throws(() => loadSettings({ path: '/nonexistent/iscsi-gateway.cfg', env: {}, hostname: host }), (e: unknown) =>
    e instanceof GatewayError && e.code === 'ERR_CONFIG_NOT_FOUND' && e.message.includes('/nonexistent/iscsi-gateway.cfg'));
  // $ISCSI_GATEWAY_CFG names the file when no path is passed
  const p = await cfg('[config]\napi_port = 5001\n');
  assert.equal(loadSettings({ env: { ISCSI_GATEWAY_CFG: p }, hostname: host }).api_port, 5001);
});

test('parses a cephadm-style cfg: sections, "=" and ":", comments, case-insensitive keys and booleans', async () => {
  const p = await cfg(`# generated
[config]
cluster_name = ceph
Pool: iscsi-pool
cluster_client_name = client.iscsi.gw1
trusted_ip_list = 10.0.0.1, 10.0.0.2,,
minimum_gateways = 1
; a comment
API_SECURE = False
api_port: 5001
log_to_stderr = True
log_to_file = off
logger_level = WARNING
alua_failover_type = explicit
backstore = memory
data_dir = /var/lib/iscsi-gw
iscsi_port = 3261
gateway_name = gw9.example.com

[device_status]
status_check_interval = 20

[target]
cmdsn_depth = 64
immediate_data = No
max_data_area_mb = 128
`);
  const s = loadSettings({ path: p, env: {}, hostname: host, onWarning: () => assert.fail('no warnings expected') });
  assert.equal(s.pool, 'iscsi-pool');
  assert.equal(s.cluster_client_name, 'client.iscsi.gw1');
  assert.deepEqual(s.trusted_ip_list, ['10.0.0.1', '10.0.0.2']);
  assert.equal(s.minimum_gateways, 1);
  assert.equal(s.api_secure, false);
  assert.equal(s.api_port, 5001);
  assert.equal(s.log_to_stderr, true);
  assert.equal(s.log_to_file, false);
  assert.equal(s.logger_level, 30);
  assert.equal(s.alua_failover_type, 'explicit');
  assert.equal(s.backstore, 'memory');
  assert.equal(s.data_dir, '/var/lib/iscsi-gw');
  assert.equal(s.iscsi_port, 3261);
  assert.equal(s.gateway_name, 'gw9.example.com');
  assert.equal(s.status_check_interval, 20);
  assert.equal(s.target_defaults.cmdsn_depth, 64);
  assert.equal(s.target_defaults.immediate_data, false);
  assert.equal(s.target_defaults.initial_r2t, true);
  assert.equal(s.disk_defaults.max_data_area_mb, 128);
  assert.equal(s.disk_defaults.hw_max_sectors, 1024);
});

test('invalid values are start-up errors naming the file, section and key', async () => {
  const cases: Array<[string, RegExp]> = [
    ['[config]\napi_port = abc\n', /^iscsi-gateway\.cfg \[config\] api_port = "abc": expected an integer from 1 to 65535$/],
    ['[config]\napi_port = 0\n', /api_port = "0": expected an integer from 1 to 65535/],
    ['[config]\napi_port = 5000 # comment\n', /api_port = "5000 # comment"/], // configparser: no inline comments
    ['[config]\napi_secure = maybe\n', /\[config\] api_secure = "maybe": expected a boolean/],
    ['[config]\nalua_failover_type = sideways\n', /expected one of implicit, explicit/],
    ['[config]\nbackstore = nfs\n', /\[config\] backstore = "nfs": expected one of file, rbd, memory/],
    ['[config]\nlogger_level = 5\n', /logger_level = "5": expected a log level/],
    ['[device_status]\nstatus_check_interval = 601\n', /\[device_status\] status_check_interval = "601"/],
    ['[target]\ncmdsn_depth = 0\n', /^iscsi-gateway\.cfg \[target\] cmdsn_depth = "0": expected integer >= 1 for cmdsn_depth/],
    ['[target]\nimmediate_data = maybe\n', /\[target\] immediate_data = "maybe": expected yes or no/],
    ['api_port = 1\n', /outside any \[section\]/],
    ['[config]\njunk line\n', /line 2: expected "key = value"/],
    ['[config]\napi_port = 1\napi_port = 2\n', /api_port is set twice/],
    ['[config]\n[config]\n', /section \[config\] appears twice/],
    ['[config]\napi_password = 50%off\n', /"%" must be written "%%"/],
  ];
  for (const [text, re] of cases) {
    const p = await cfg(text);
    assert.throws(() => loadSettings({ path: p, env: {}, hostname: host }), invalid(re), text);
  }
});

test('unknown keys and sections are warnings, never fatal, never silent', async () => {
  const p = await cfg('[config]\ngateway_keyring = ceph.client.admin.keyring\napi_port = 5002\n[target]\nbogus = 1\n[extra]\nx = 1\n');
  const warnings: string[] = [];
  const s = loadSettings({ path: p, env: {}, hostname: host, onWarning: (m) => warnings.push(m) });
  assert.equal(s.api_port, 5002);
  assert.deepEqual(warnings, [
    'iscsi-gateway.cfg [config] gateway_keyring: unknown setting, ignored',
    'iscsi-gateway.cfg [target] bogus: unknown control, ignored',
    'iscsi-gateway.cfg [extra]: unknown section, ignored',
  ]);
});

test('warnings are also returned alongside (non-enumerable: not hashed, not serialised)', async () => {
  const p = await cfg('[config]\nbogus = 1\n');
  const loaded = loadSettings({ path: p, env: {}, hostname: host });
  const { settings, warnings } = loaded;
  assert.equal(settings, loaded);
  assert.deepEqual(warnings, ['iscsi-gateway.cfg [config] bogus: unknown setting, ignored']);
  assert.ok(!Object.keys(loaded).includes('warnings'));
  assert.ok(!JSON.stringify(loaded).includes('bogus'));
  assert.equal(settingsHash(loaded), settingsHash(defaultSettings({ hostname: host })));
});

test('trusted_ip_list entries that are not IP addresses are warned about', async () => {
  const p = await cfg('[config]\ntrusted_ip_list = 10.0.0.1,mgr1.example.com,[::1]\n');
  const warnings: string[] = [];
  const s = loadSettings({ path: p, env: {}, hostname: host, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(s.trusted_ip_list, ['10.0.0.1', 'mgr1.example.com', '[::1]']);
  assert.deepEqual(warnings, ['iscsi-gateway.cfg [config] trusted_ip_list: "mgr1.example.com" is not an IP address and will never match a caller']);
});

test('keys named like Object.prototype members are unknown keys, not crashes', async () => {
  const p = await cfg('[DEFAULT]\ntostring = 1\n[config]\nconstructor = x\n__proto__ = y\n[target]\nhasownproperty = 1\n');
  const warnings: string[] = [];
  const s = loadSettings({ path: p, env: { ISCSI_GW_CONSTRUCTOR: '1' }, hostname: host, onWarning: (m) => warnings.push(m) });
  assert.equal(s.api_port, 5000);
  assert.equal(warnings.length, 5, warnings.join('\n'));
  assert.ok(warnings.every((w) => /unknown (setting|control), ignored$/.test(w)));
});

test('config:// values: clear error without a monitor, resolved with a resolver', async () => {
  const p = await cfg('[config]\napi_password = config://iscsi/api_password\napi_port = config://iscsi/api_port\n');
  assert.throws(() => loadSettings({ path: p, env: {}, hostname: host }), invalid(/api_password = "config:\/\/iscsi\/api_password": config:\/\/ values need the Ceph monitor/));
  const kv: Record<string, string> = { 'iscsi/api_password': 's3cret', 'iscsi/api_port': '5005' };
  const s = loadSettings({ path: p, env: {}, hostname: host, monConfig: (k) => kv[k] });
  assert.equal(s.api_password, 's3cret');
  assert.equal(s.api_port, 5005);
  assert.throws(() => loadSettings({ path: p, env: {}, hostname: host, monConfig: () => undefined }), invalid(/not found on the Ceph monitor/));
});

test('[DEFAULT], interpolation and continuation lines follow configparser', async () => {
  const p = await cfg('[DEFAULT]\nbase = /srv\nminimum_gateways = 1\n[config]\ndata_dir = %(base)s/gw\napi_password = 100%%sure\ntrusted_ip_list = 10.0.0.1,\n  10.0.0.2\n');
  const s = loadSettings({ path: p, env: {}, hostname: host, onWarning: () => undefined });
  assert.equal(s.data_dir, '/srv/gw');
  assert.equal(s.api_password, '100%sure');
  assert.equal(s.minimum_gateways, 1);
  assert.deepEqual(s.trusted_ip_list, ['10.0.0.1', '10.0.0.2']);
  const ini = parseIni('[a]\nk = v\n[DEFAULT]\nd = 1\n');
  assert.equal(ini.get('a')?.get('k'), 'v');
  assert.equal(ini.get('DEFAULT')?.get('d'), '1');
});

test('Windows line endings and a UTF-8 BOM are accepted', async () => {
  const p = await cfg('\uFEFF[config]\r\napi_port = 5003\r\napi_secure = true\r\n');
  const s = loadSettings({ path: p, env: {}, hostname: host });
  assert.equal(s.api_port, 5003);
  assert.equal(s.api_secure, true);
});

test('environment overrides of [config] keys, validated the same way', async () => {
  const p = await cfg('[config]\napi_port = 5001\n');
  const s = loadSettings({ path: p, env: { ISCSI_GW_API_PORT: '5009', ISCSI_GW_DATA_DIR: '/tmp/x' }, hostname: host });
  assert.equal(s.api_port, 5009);
  assert.equal(s.data_dir, '/tmp/x');
  assert.throws(() => loadSettings({ path: p, env: { ISCSI_GW_API_PORT: 'x' }, hostname: host }), invalid(/environment ISCSI_GW_API_PORT = "x"/));
  const warnings: string[] = [];
  loadSettings({ path: p, env: { ISCSI_GW_NOPE: '1' }, hostname: host, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(warnings, ['environment ISCSI_GW_NOPE: unknown setting, ignored']);
});

test('relative data_dir is resolved; api_cert/key follow ceph_config_dir unless set', async () => {
  const p = await cfg('[config]\ndata_dir = ./d\nceph_config_dir = /opt/ceph\n');
  const s = loadSettings({ path: p, env: {}, hostname: host, cwd: '/work' });
  assert.equal(s.data_dir, '/work/d');
  assert.equal(s.api_cert, '/opt/ceph/iscsi-gateway.crt');
  assert.equal(s.api_key, '/opt/ceph/iscsi-gateway.key');
  const p2 = await cfg('[config]\napi_cert = /x/c.pem\napi_key = /x/k.pem\n');
  const s2 = loadSettings({ path: p2, env: {}, hostname: host });
  assert.equal(s2.api_cert, '/x/c.pem');
  assert.equal(s2.api_key, '/x/k.pem');
});

test('defaultFqdn: dotted hostname as is, else the dotted name from /etc/hosts, else the short name', () => {
  assert.equal(defaultFqdn('', 'gw1.example.com'), 'gw1.example.com');
  const hosts = '127.0.0.1 localhost\n# 10.0.0.9 gw1.wrong.com gw1\n10.0.0.1 gw1.example.com gw1 # me\n';
  assert.equal(defaultFqdn(hosts, 'gw1'), 'gw1.example.com');
  assert.equal(defaultFqdn('10.0.0.1 gw1 gw1.lan\n', 'gw1'), 'gw1.lan');
  assert.equal(defaultFqdn(hosts, 'other'), 'other');
  assert.equal(typeof defaultFqdn(), 'string');
});

test('settingsHash: stable, ignores cluster_client_name/logger_level/gateway_name, sees everything else', () => {
  const a = defaultSettings({ hostname: host, cwd: '/w' });
  const h = settingsHash(a);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(settingsHash({ ...a }), h);
  // key order does not matter
  const reordered = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
  assert.equal(settingsHash(reordered), h);
  assert.equal(settingsHash({ ...a, cluster_client_name: 'client.iscsi.x' }), h);
  assert.equal(settingsHash({ ...a, logger_level: 40 }), h);
  assert.equal(settingsHash({ ...a, gateway_name: 'gw2.example.com' }), h);
  assert.notEqual(settingsHash({ ...a, api_port: 5001 }), h);
  assert.notEqual(settingsHash({ ...a, trusted_ip_list: ['10.0.0.1'] }), h);
  assert.notEqual(settingsHash({ ...a, target_defaults: { ...a.target_defaults, cmdsn_depth: 64 } }), h);
  assert.notEqual(settingsHash({ ...a, api_password: 'other' }), h);
});
