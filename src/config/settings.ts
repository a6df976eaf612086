/**
 * Daemon settings from iscsi-gateway.cfg (anchors §1.4; ceph-iscsi
 * ceph_iscsi_config/settings.py + gateway_setting.py), parsed the way Python's
 * configparser reads it, then validated. Differences from upstream, on purpose:
 * - an invalid value is a start-up error naming section and key (upstream drops
 *   it silently: "We do not even have the logger up yet");
 * - unknown keys and sections are reported as warnings instead of being ignored;
 * - `config://` values need the Ceph monitor: an error unless a resolver is given.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GatewayError } from '../util/errors.js';
import { validIpAddress } from './validate.js';
import type { Settings } from './settings-types.js';
import type { AuthThrottleOptions } from '../util/auth-throttle.js';
import {
  DISK_CONTROLS,
  TARGET_CONTROLS,
  builtinControlDefaults,
  normalizeControlValue,
  parseBool,
  type ControlDef,
} from './controls.js';

export const DEFAULT_SETTINGS_PATH = '/etc/ceph/iscsi-gateway.cfg';
/** Environment variable naming the cfg file when no path is passed. */
export const SETTINGS_PATH_ENV = 'ISCSI_GATEWAY_CFG';
/** Prefix of environment overrides of [config] keys: ISCSI_GW_API_PORT=5001. */
export const SETTINGS_ENV_PREFIX = 'ISCSI_GW_';
const MON_CONFIG_PREFIX = 'config://';

type SysDef =
  | { type: 'str'; def: string }
  | { type: 'int'; min: number; max: number; def: number }
  | { type: 'bool'; def: boolean }
  | { type: 'list'; def: string[] }
  | { type: 'enum'; values: readonly string[]; def: string }
  | { type: 'level'; def: number };

/** [config] keys: ceph-iscsi SYS_SETTINGS with its defaults, then ours. */
const CONFIG_KEYS: Readonly<Record<string, SysDef>> = {
  cluster_name: { type: 'str', def: 'ceph' },
  pool: { type: 'str', def: 'rbd' },
  cluster_client_name: { type: 'str', def: 'client.admin' },
  time_out: { type: 'int', min: 1, max: 600, def: 30 },
  api_host: { type: 'str', def: '::' },
  api_port: { type: 'int', min: 1, max: 65535, def: 5000 },
  // Upstream's code default is true, but its sample cfg and docs say `api_secure = false`;
  // with true a fresh start without certificates would fail, so we default to false.
  api_secure: { type: 'bool', def: false },
  api_ssl_verify: { type: 'bool', def: false },
  loop_delay: { type: 'int', min: 1, max: 60, def: 2 },
  trusted_ip_list: { type: 'list', def: [] },
  api_user: { type: 'str', def: 'admin' },
  api_password: { type: 'str', def: 'admin' },
  ceph_user: { type: 'str', def: 'admin' },
  debug: { type: 'bool', def: false },
  // Upstream's code default is 2; cephadm deploys with 1 and a rigid 2 is a listed pain point
  // (anchors §4 #9): a single gateway is a valid set-up, and the gateway logs that it has no
  // path redundancy. Set 2 or more to require HA before disks are mapped and clients created.
  minimum_gateways: { type: 'int', min: 1, max: 9999, def: 1 },
  ceph_config_dir: { type: 'str', def: '/etc/ceph' },
  gateway_conf: { type: 'str', def: 'gateway.conf' },
  priv_key: { type: 'str', def: 'iscsi-gateway.key' },
  pub_key: { type: 'str', def: 'iscsi-gateway-pub.key' },
  prometheus_exporter: { type: 'bool', def: true },
  prometheus_port: { type: 'int', min: 1, max: 65535, def: 9287 },
  prometheus_host: { type: 'str', def: '::' },
  // Python logging levels: DEBUG 10 .. CRITICAL 50 (names accepted too).
  logger_level: { type: 'level', def: 10 },
  log_to_stderr: { type: 'bool', def: false },
  log_to_stderr_prefix: { type: 'str', def: '' },
  log_to_file: { type: 'bool', def: true },
  alua_failover_type: { type: 'enum', values: ['implicit', 'explicit'], def: 'implicit' },
  // ours
  backstore: { type: 'enum', values: ['file', 'rbd', 'memory'], def: 'file' },
  data_dir: { type: 'str', def: './data' },
  config_store: { type: 'enum', values: ['file', 'rados'], def: 'file' },
  iscsi_port: { type: 'int', min: 1, max: 65535, def: 3260 },
  gateway_name: { type: 'str', def: '' },
  api_cert: { type: 'str', def: '' },
  api_key: { type: 'str', def: '' },
  // A peer gateway whose heartbeat has not moved for this long is dead: its image locks are
  // broken (its client blocklisted) and its LUNs move; a gateway that could not renew its own
  // heartbeat within 3/4 of it stops writing (self-fencing).
  ha_lease_ms: { type: 'int', min: 500, max: 60000, def: 3000 },
  // Guessing protection of API Basic auth and iSCSI CHAP (util/auth-throttle.ts): after
  // auth_failure_threshold failures of one client (address + user or initiator name), its next
  // check waits auth_backoff_ms, doubling per failure up to auth_backoff_max_ms; 0 turns it off.
  auth_failure_threshold: { type: 'int', min: 0, max: 1000, def: 5 },
  // Distinct names failing from one address before its names that never logged in are slowed too.
  auth_source_threshold: { type: 'int', min: 1, max: 100000, def: 8 },
  auth_backoff_ms: { type: 'int', min: 1, max: 600000, def: 1000 },
  auth_backoff_max_ms: { type: 'int', min: 1, max: 3600000, def: 30000 },
  // Seconds after its last failure a client's record is forgotten.
  auth_failure_forget: { type: 'int', min: 1, max: 604800, def: 900 },
  // Attempts held by the back-off at once (API requests and iSCSI logins each); more are refused.
  auth_max_held: { type: 'int', min: 1, max: 100000, def: 128 },
  // iSCSI connections from one address; more are closed at accept.
  iscsi_max_connections_per_ip: { type: 'int', min: 1, max: 65535, def: 256 },
  // "auto": human-readable lines when stdout is a terminal, JSON lines otherwise; "json"; "text".
  log_format: { type: 'enum', values: ['auto', 'json', 'text'], def: 'auto' },
  // backstore = rbd: each open image registered in the mgr service map as tcmu-runner does (the
  // Dashboard's iSCSI overview, `ceph -s`); one more librados client per image. Off by default:
  // a gateway with it on was seen to die while closing an image (docs/ceph.md).
  service_map: { type: 'bool', def: false },
};

/** [device_status]: TCMU_DEV_STATUS_SETTINGS (the "threshhold" spelling is upstream's). */
const DEVICE_STATUS_KEYS: Readonly<Record<string, SysDef>> = {
  lock_lost_cnt_threshhold: { type: 'int', min: 1, max: 1000000, def: 12 },
  status_check_interval: { type: 'int', min: 1, max: 600, def: 10 },
  stable_state_reset_count: { type: 'int', min: 1, max: 600, def: 3 },
};

type TargetKey = { kind: 'target' | 'disk'; def: ControlDef };
const TARGET_KEYS: ReadonlyMap<string, TargetKey> = new Map<string, TargetKey>([
  ...TARGET_CONTROLS.map((d): [string, TargetKey] => [d.name, { kind: 'target', def: d }]),
  ...DISK_CONTROLS.map((d): [string, TargetKey] => [d.name, { kind: 'disk', def: d }]),
]);

const LEVEL_NAMES: Readonly<Record<string, number>> = { debug: 10, info: 20, warning: 30, warn: 30, error: 40, critical: 50, fatal: 50 };

export interface LoadSettingsOptions {
  /** cfg file; absent: $ISCSI_GATEWAY_CFG, else /etc/ceph/iscsi-gateway.cfg when it exists, else built-in defaults. */
  path?: string;
  /** Environment (default process.env): ISCSI_GATEWAY_CFG and ISCSI_GW_<KEY> overrides of [config] keys. */
  env?: NodeJS.ProcessEnv;
  /** Returns this host's FQDN (default: os.hostname() completed from /etc/hosts). */
  hostname?: () => string;
  /** Resolves `config://<key>` values (mon config-key store). Absent: such values are an error. */
  monConfig?: (key: string) => string | undefined;
  /** Receives warnings (unknown keys/sections); they are also returned as `.warnings`. */
  onWarning?: (message: string) => void;
  /** Base for a relative data_dir (default process.cwd()). */
  cwd?: string;
}

export interface LoadedSettings {
  settings: Settings;
  warnings: string[];
  /** The file read, or undefined when built-in defaults were used. */
  path: string | undefined;
}

/**
 * What loadSettings returns: the Settings themselves, plus — as non-enumerable
 * properties, so they never reach settingsHash, JSON or a spread copy — the
 * warnings "returned alongside" and a `settings` self-reference, so that both
 * `const s = loadSettings()` and `const { settings, warnings } = loadSettings()` work.
 */
export type LoadedSettingsResult = Settings & { readonly settings: Settings; readonly warnings: readonly string[] };

/**
 * Loads and validates the settings. Warnings (unknown keys/sections) go to
 * `onWarning` when given, and are always available as `.warnings` on the result.
 */
export function loadSettings(opts: LoadSettingsOptions = {}): LoadedSettingsResult {
  const { settings, warnings } = loadSettingsWithWarnings(opts);
  if (opts.onWarning !== undefined) for (const w of warnings) opts.onWarning(w);
  Object.defineProperty(settings, 'settings', { value: settings, enumerable: false });
  Object.defineProperty(settings, 'warnings', { value: Object.freeze([...warnings]), enumerable: false });
  return settings as LoadedSettingsResult;
}

/** As loadSettings, returning the warnings instead of reporting them. */
export function loadSettingsWithWarnings(opts: LoadSettingsOptions = {}): LoadedSettings {
  const env = opts.env ?? process.env;
  let file: string | undefined = opts.path ?? nonEmpty(env[SETTINGS_PATH_ENV]);
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : (e.code ?? e.message);
      throw new GatewayError('ERR_CONFIG_NOT_FOUND', `cannot read settings file ${file}: ${why}`, { cause: err });
    }
  } else if (existsSync(DEFAULT_SETTINGS_PATH)) {
    file = DEFAULT_SETTINGS_PATH;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new GatewayError('ERR_CONFIG_NOT_FOUND', `cannot read settings file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const label = file !== undefined ? path.basename(file) : 'iscsi-gateway.cfg';
  const sections = text !== undefined ? parseIni(text, label) : new Map<string, Map<string, string>>();
  return { ...buildSettings(sections, label, env, opts), path: file };
}

/** table[key] for own keys only ("constructor", "__proto__" in a cfg are unknown keys, not Object.prototype). */
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s !== '' ? s : undefined;
}

// ---------------------------------------------------------------------------
// configparser-compatible reader

/**
 * Parses INI text with Python configparser's default semantics: `[section]`
 * headers (case-sensitive), `key = value` or `key: value` (first delimiter wins),
 * keys lowercased, values stripped, full-line `#`/`;` comments (no inline comments),
 * indented continuation lines, `[DEFAULT]` (returned as its own section and visible to
 * interpolation), BasicInterpolation (`%(key)s`, `%%`). Duplicate sections/keys and lines
 * outside a section are errors (configparser strict mode). Returns section → key → value.
 */
export function parseIni(text: string, label = 'iscsi-gateway.cfg'): Map<string, Map<string, string>> {
  const raw = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let currentName = '';
  let lastKey: string | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const lineNo = i + 1;
    const stripped = line.trim();
    if (stripped === '') {
      lastKey = undefined; // configparser keeps empty lines inside values; we end the value here
      continue;
    }
    if (stripped.startsWith('#') || stripped.startsWith(';')) continue;
    // Continuation line: indented, following a key.
    if (/^\s/.test(line) && current !== undefined && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey) ?? ''}\n${stripped}`);
      continue;
    }
    const sec = /^\[([^\]]+)\]\s*$/.exec(stripped);
    if (sec && sec[1] !== undefined) {
      currentName = sec[1];
      if (raw.has(currentName)) {
        throw invalidCfg(`${label} line ${lineNo}: section [${currentName}] appears twice`);
      }
      current = new Map();
      raw.set(currentName, current);
      lastKey = undefined;
      continue;
    }
    if (current === undefined) {
      throw invalidCfg(`${label} line ${lineNo}: "${stripped}" is outside any [section]`);
    }
    const m = /^([^=:]*?)\s*[=:]\s*(.*)$/.exec(stripped);
    if (!m || m[1] === undefined || m[2] === undefined || m[1] === '') {
      throw invalidCfg(`${label} line ${lineNo}: expected "key = value" in [${currentName}], got "${stripped}"`);
    }
    const key = m[1].toLowerCase();
    if (current.has(key)) {
      throw invalidCfg(`${label} line ${lineNo}: [${currentName}] ${key} is set twice`);
    }
    current.set(key, m[2]);
    lastKey = key;
  }
  const defaults = raw.get('DEFAULT') ?? new Map<string, string>();
  raw.delete('DEFAULT');
  const out = new Map<string, Map<string, string>>();
  for (const [name, kv] of raw) {
    const merged = new Map<string, string>(defaults);
    for (const [k, v] of kv) merged.set(k, v);
    const resolved = new Map<string, string>();
    // [DEFAULT] keys are visible to interpolation but are not copied into each section:
    // buildSettings() applies them once, to the table that knows them.
    for (const [k, v] of kv) resolved.set(k, interpolate(v, merged, label, name, k, 0));
    out.set(name, resolved);
  }
  if (defaults.size > 0) {
    const resolved = new Map<string, string>();
    for (const [k, v] of defaults) resolved.set(k, interpolate(v, defaults, label, 'DEFAULT', k, 0));
    out.set('DEFAULT', resolved);
  }
  return out;
}

// configparser BasicInterpolation: "%%" is a literal "%", "%(name)s" the value of another key.
function interpolate(value: string, vars: Map<string, string>, label: string, section: string, key: string, depth: number): string {
  if (!value.includes('%')) return value;
  if (depth > 10) throw invalidCfg(`${label} [${section}] ${key}: interpolation is nested too deeply`);
  let out = '';
  for (let i = 0; i < value.length; ) {
    const c = value[i];
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    const next = value[i + 1];
    if (next === '%') {
      out += '%';
      i += 2;
      continue;
    }
    const m = /^%\(([^)]+)\)s/.exec(value.slice(i));
    if (!m || m[1] === undefined) {
      throw invalidCfg(`${label} [${section}] ${key}: a "%" must be written "%%" (configparser interpolation)`);
    }
    const ref = m[1].toLowerCase();
    const v = vars.get(ref);
    if (v === undefined) throw invalidCfg(`${label} [${section}] ${key}: "%(${m[1]})s" refers to an unknown key`);
    out += interpolate(v, vars, label, section, ref, depth + 1);
    i += m[0].length;
  }
  return out;
}

function invalidCfg(message: string): GatewayError {
  return new GatewayError('ERR_CONFIG_INVALID', message);
}

// ---------------------------------------------------------------------------
// validation

function describe(d: SysDef): string {
  switch (d.type) {
    case 'int': return `expected an integer from ${d.min} to ${d.max}`;
    case 'bool': return 'expected a boolean (true/false, yes/no, on/off, 1/0)';
    case 'enum': return `expected one of ${d.values.join(', ')}`;
    case 'level': return 'expected a log level: 10-50 or DEBUG, INFO, WARNING, ERROR, CRITICAL';
    case 'list': return 'expected a comma-separated list';
    case 'str': return 'expected a string';
  }
}

function convert(d: SysDef, raw: string): unknown {
  switch (d.type) {
    case 'str':
      return raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'bool':
      return parseBool(raw);
    case 'int': {
      if (!/^[+-]?[0-9]+$/.test(raw.trim())) return undefined;
      const n = Number(raw.trim());
      return Number.isSafeInteger(n) && n >= d.min && n <= d.max ? n : undefined;
    }
    case 'enum':
      return d.values.includes(raw.trim()) ? raw.trim() : undefined;
    case 'level': {
      const t = raw.trim();
      if (/^[0-9]+$/.test(t)) {
        const n = Number(t);
        return n >= 10 && n <= 50 ? n : undefined;
      }
      return LEVEL_NAMES[t.toLowerCase()];
    }
  }
}

function buildSettings(
  sections: Map<string, Map<string, string>>,
  label: string,
  env: NodeJS.ProcessEnv,
  opts: LoadSettingsOptions,
): { settings: Settings; warnings: string[] } {
  const warnings: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [k, d] of Object.entries({ ...CONFIG_KEYS, ...DEVICE_STATUS_KEYS })) values[k] = Array.isArray(d.def) ? [...d.def] : d.def;
  const targetDefaults = builtinControlDefaults('target');
  const diskDefaults = builtinControlDefaults('disk');

  const resolveMon = (where: string, raw: string): string => {
    if (!raw.startsWith(MON_CONFIG_PREFIX)) return raw;
    const key = raw.slice(MON_CONFIG_PREFIX.length);
    if (opts.monConfig === undefined) {
      throw invalidCfg(`${where} = "${raw}": config:// values need the Ceph monitor (config-key store); the file config store cannot resolve them — put the value in the file`);
    }
    const v = opts.monConfig(key);
    if (v === undefined) throw invalidCfg(`${where} = "${raw}": config-key "${key}" not found on the Ceph monitor`);
    return v;
  };

  const apply = (table: Readonly<Record<string, SysDef>>, sectionName: string, kv: Map<string, string>, _isDefault: boolean): void => {
    for (const [key, raw0] of kv) {
      const d = own(table, key);
      if (d === undefined) {
        warnings.push(`${label} [${sectionName}] ${key}: unknown setting, ignored`);
        continue;
      }
      const where = `${label} [${sectionName}] ${key}`;
      const raw = resolveMon(where, raw0);
      const v = convert(d, raw);
      if (v === undefined) throw invalidCfg(`${where} = "${raw}": ${describe(d)}`);
      values[key] = v;
    }
  };

  // [DEFAULT] first (configparser: its keys are inherited by every section), each key
  // applied to the table that knows it; the real sections override it.
  const applyTarget = (sectionName: string, kv: Map<string, string>): void => {
    for (const [key, raw0] of kv) {
      const t = TARGET_KEYS.get(key);
      if (t === undefined) {
        warnings.push(`${label} [${sectionName}] ${key}: unknown control, ignored`);
        continue;
      }
      const where = `${label} [${sectionName}] ${key}`;
      const raw = resolveMon(where, raw0);
      let v: number | boolean;
      try {
        v = normalizeControlValue(t.def, raw);
      } catch (err) {
        throw invalidCfg(`${where} = "${raw}": ${(err as Error).message}`);
      }
      (t.kind === 'target' ? targetDefaults : diskDefaults)[key] = v;
    }
  };

  const defaultSection = sections.get('DEFAULT');
  if (defaultSection) {
    for (const [key, raw] of defaultSection) {
      const one = new Map([[key, raw]]);
      if (own(CONFIG_KEYS, key)) apply(CONFIG_KEYS, 'DEFAULT', one, false);
      else if (own(DEVICE_STATUS_KEYS, key)) apply(DEVICE_STATUS_KEYS, 'DEFAULT', one, false);
      else if (TARGET_KEYS.has(key)) applyTarget('DEFAULT', one);
      else warnings.push(`${label} [DEFAULT] ${key}: unknown setting, ignored`);
    }
  }
  for (const [name, kv] of sections) {
    if (name === 'DEFAULT') continue;
    if (name === 'config') apply(CONFIG_KEYS, name, kv, false);
    else if (name === 'device_status') apply(DEVICE_STATUS_KEYS, name, kv, false);
    else if (name === 'target') applyTarget(name, kv);
    else {
      warnings.push(`${label} [${name}]: unknown section, ignored`);
    }
  }

  // Environment overrides of [config] keys (containers, tests): ISCSI_GW_API_PORT=5001.
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(SETTINGS_ENV_PREFIX) || raw === undefined) continue;
    const key = name.slice(SETTINGS_ENV_PREFIX.length).toLowerCase();
    const d = own(CONFIG_KEYS, key) ?? own(DEVICE_STATUS_KEYS, key);
    if (d === undefined) {
      warnings.push(`environment ${name}: unknown setting, ignored`);
      continue;
    }
    const v = convert(d, raw);
    if (v === undefined) throw invalidCfg(`environment ${name} = "${raw}": ${describe(d)}`);
    values[key] = v;
  }

  // The API compares the caller's address with these literally: a host name never matches.
  for (const ip of values.trusted_ip_list as string[]) {
    if (!validIpAddress(ip)) warnings.push(`${label} [config] trusted_ip_list: "${ip}" is not an IP address and will never match a caller`);
  }

  const cephConfigDir = values.ceph_config_dir as string;
  const dataDir = path.resolve(opts.cwd ?? process.cwd(), values.data_dir as string);
  let gatewayName = values.gateway_name as string;
  if (gatewayName === '') gatewayName = (opts.hostname ?? defaultFqdn)();
  const apiCert = (values.api_cert as string) || path.join(cephConfigDir, 'iscsi-gateway.crt');
  const apiKey = (values.api_key as string) || path.join(cephConfigDir, 'iscsi-gateway.key');

  const settings: Settings = {
    cluster_name: values.cluster_name as string,
    pool: values.pool as string,
    cluster_client_name: values.cluster_client_name as string,
    gateway_conf: values.gateway_conf as string,
    ceph_config_dir: cephConfigDir,
    api_host: values.api_host as string,
    api_port: values.api_port as number,
    api_secure: values.api_secure as boolean,
    api_ssl_verify: values.api_ssl_verify as boolean,
    api_user: values.api_user as string,
    api_password: values.api_password as string,
    api_cert: apiCert,
    api_key: apiKey,
    trusted_ip_list: values.trusted_ip_list as string[],
    minimum_gateways: values.minimum_gateways as number,
    time_out: values.time_out as number,
    loop_delay: values.loop_delay as number,
    priv_key: values.priv_key as string,
    pub_key: values.pub_key as string,
    prometheus_exporter: values.prometheus_exporter as boolean,
    prometheus_host: values.prometheus_host as string,
    prometheus_port: values.prometheus_port as number,
    alua_failover_type: values.alua_failover_type as 'implicit' | 'explicit',
    auth_failure_threshold: values.auth_failure_threshold as number,
    auth_source_threshold: values.auth_source_threshold as number,
    auth_backoff_ms: values.auth_backoff_ms as number,
    auth_backoff_max_ms: values.auth_backoff_max_ms as number,
    auth_failure_forget: values.auth_failure_forget as number,
    auth_max_held: values.auth_max_held as number,
    iscsi_max_connections_per_ip: values.iscsi_max_connections_per_ip as number,
    log_format: values.log_format as 'auto' | 'json' | 'text',
    logger_level: values.logger_level as number,
    log_to_stderr: values.log_to_stderr as boolean,
    log_to_stderr_prefix: values.log_to_stderr_prefix as string,
    log_to_file: values.log_to_file as boolean,
    debug: values.debug as boolean,
    ceph_user: values.ceph_user as string,
    backstore: values.backstore as 'file' | 'rbd' | 'memory',
    data_dir: dataDir,
    config_store: values.config_store as 'file' | 'rados',
    iscsi_port: values.iscsi_port as number,
    gateway_name: gatewayName,
    ha_lease_ms: values.ha_lease_ms as number,
    service_map: values.service_map as boolean,
    target_defaults: targetDefaults,
    disk_defaults: diskDefaults,
    lock_lost_cnt_threshhold: values.lock_lost_cnt_threshhold as number,
    status_check_interval: values.status_check_interval as number,
    stable_state_reset_count: values.stable_state_reset_count as number,
  };
  return { settings, warnings };
}

/** Built-in defaults (no file), e.g. for tests: `defaultSettings({ hostname: () => 'gw1.example.com' })`. */
export function defaultSettings(opts: Pick<LoadSettingsOptions, 'hostname' | 'cwd'> = {}): Settings {
  return buildSettings(new Map(), 'iscsi-gateway.cfg', {}, opts).settings;
}

/**
 * This host's FQDN, as Python's socket.getfqdn() finds it on a host without DNS:
 * os.hostname() when it already has a dot, else the first dotted name of the
 * /etc/hosts line that lists the host name, else the short name. Synchronous
 * and deterministic (no resolver round trip at start-up).
 */
export function defaultFqdn(hostsText?: string, hostname: string = os.hostname()): string {
  if (hostname.includes('.')) return hostname;
  let text = hostsText;
  if (text === undefined) {
    try {
      text = readFileSync('/etc/hosts', 'utf8');
    } catch {
      return hostname;
    }
  }
  for (const line of text.split('\n')) {
    const names = line.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (!names.includes(hostname)) continue;
    const dotted = names.find((n) => n.includes('.') && n.split('.')[0] === hostname) ?? names.find((n) => n.includes('.'));
    if (dotted !== undefined) return dotted;
  }
  return hostname;
}

/** Settings excluded from the cross-gateway hash: upstream's two, plus our per-host identity. */
export const HASH_EXCLUDED: readonly string[] = ['cluster_client_name', 'logger_level', 'gateway_name'];

/**
 * sha256 hex of the settings that must agree across gateways (`/api/sysinfo/checkconf`,
 * ceph-iscsi Settings.hash): every setting except cluster_client_name and logger_level
 * (upstream) and gateway_name (this host's identity, differs per gateway by design),
 * serialised as JSON with sorted keys at every level.
 */
export function settingsHash(settings: Settings): string {
  const rec = settings as unknown as Record<string, unknown>;
  const sync: Record<string, unknown> = {};
  for (const k of Object.keys(rec).sort()) {
    if (HASH_EXCLUDED.includes(k)) continue;
    sync[k] = rec[k];
  }
  return createHash('sha256').update(stableJson(sync)).digest('hex');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The guessing-protection settings (auth_*) as util/auth-throttle.ts options. */
export function authThrottleOptions(s: Settings): Partial<AuthThrottleOptions> {
  return {
    threshold: s.auth_failure_threshold,
    sourceThreshold: s.auth_source_threshold,
    baseDelayMs: s.auth_backoff_ms,
    maxDelayMs: Math.max(s.auth_backoff_ms, s.auth_backoff_max_ms),
    forgetMs: s.auth_failure_forget * 1000,
    maxHeld: s.auth_max_held,
  };
}
