/**
 * Target-level and disk-level "controls" (anchors §1.4): ceph-iscsi
 * gateway_setting.py TGT_SETTINGS (+ CLIENT_SETTINGS, a subset) and
 * TCMU_SETTINGS for backstore `user:rbd`, with upstream's semantics:
 * a control equal to the default is not stored, an empty value resets it
 * (`GWObject._set_control`, `Settings.normalize_controls`).
 */
import { GatewayError } from '../util/errors.js';

export type ControlKind = 'target' | 'disk';

export type ControlDef =
  | { readonly name: string; readonly type: 'int'; readonly min: number; readonly max: number; readonly default: number }
  | { readonly name: string; readonly type: 'bool'; readonly default: boolean };

export type ControlValue = number | boolean;
export type ControlValues = Record<string, ControlValue>;

const int = (name: string, min: number, max: number, def: number): ControlDef => ({ name, type: 'int', min, max, default: def });
const bool = (name: string, def: boolean): ControlDef => ({ name, type: 'bool', default: def });

/** TGT_SETTINGS: the first four are also the client (ACL) controls. Order = upstream's. */
export const TARGET_CONTROLS: readonly ControlDef[] = [
  int('dataout_timeout', 2, 60, 20),
  int('nopin_response_timeout', 3, 60, 5),
  int('nopin_timeout', 3, 60, 5),
  int('cmdsn_depth', 1, 512, 128),
  bool('immediate_data', true),
  bool('initial_r2t', true),
  int('max_outstanding_r2t', 1, 65535, 1),
  int('first_burst_length', 512, 16777215, 262144),
  int('max_burst_length', 512, 16777215, 524288),
  int('max_recv_data_segment_length', 512, 16777215, 262144),
  int('max_xmit_data_segment_length', 512, 16777215, 262144),
];

/** CLIENT_SETTINGS: target controls that are pushed to every client ACL. */
export const CLIENT_CONTROL_NAMES: readonly string[] = ['dataout_timeout', 'nopin_response_timeout', 'nopin_timeout', 'cmdsn_depth'];

/** TCMU_SETTINGS for backstore `user:rbd`. */
export const DISK_CONTROLS: readonly ControlDef[] = [
  int('max_data_area_mb', 1, 2048, 8),
  int('qfull_timeout', 0, 600, 5),
  int('osd_op_timeout', 0, 600, 30),
  int('hw_max_sectors', 1, 8192, 1024),
];

const TABLES: Readonly<Record<ControlKind, ReadonlyMap<string, ControlDef>>> = {
  target: new Map(TARGET_CONTROLS.map((d) => [d.name, d])),
  disk: new Map(DISK_CONTROLS.map((d) => [d.name, d])),
};

/** The table of one kind, keyed by control name. */
export function controlTable(kind: ControlKind): ReadonlyMap<string, ControlDef> {
  return TABLES[kind];
}

/** The built-in defaults (upstream's code defaults). */
export function builtinControlDefaults(kind: ControlKind): ControlValues {
  const out: ControlValues = {};
  for (const d of TABLES[kind].values()) out[d.name] = d.default;
  return out;
}

function invalid(message: string): GatewayError {
  return new GatewayError('ERR_CONFIG_INVALID', message);
}

/**
 * Converts one raw value (JSON number/boolean, or the strings a form or an INI
 * file carries: "64", "Yes", "true", "0") into the control's type.
 * Throws ERR_CONFIG_INVALID naming the control and its allowed range.
 */
export function normalizeControlValue(def: ControlDef, raw: unknown): ControlValue {
  if (def.type === 'bool') {
    const b = parseBool(raw);
    // gateway_setting.py LIOBoolSetting: "expected yes or no for <name>" (also true/false, 1/0).
    if (b === undefined) throw invalid(`expected yes or no for ${def.name}`);
    return b;
  }
  let n: number | undefined;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^\s*[+-]?[0-9]+\s*$/.test(raw)) n = Number(raw.trim());
  else if (typeof raw === 'bigint') n = Number(raw);
  if (n === undefined || !Number.isSafeInteger(n)) {
    throw invalid(`expected integer for ${def.name} (allowed: ${def.min}-${def.max})`);
  }
  // gateway_setting.py IntSetting.normalize: "expected integer >= {min} for {name}" / "<= {max}".
  if (n < def.min) throw invalid(`expected integer >= ${def.min} for ${def.name} (allowed: ${def.min}-${def.max})`);
  if (n > def.max) throw invalid(`expected integer <= ${def.max} for ${def.name} (allowed: ${def.min}-${def.max})`);
  return n;
}

/** configparser/ceph-iscsi boolean words; undefined when not a boolean. */
export function parseBool(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return raw === 1 ? true : raw === 0 ? false : undefined;
  if (typeof raw !== 'string') return undefined;
  switch (raw.trim().toLowerCase()) {
    case '1': case 'true': case 'yes': case 'on':
      return true;
    case '0': case 'false': case 'no': case 'off':
      return false;
    default:
      return undefined;
  }
}

/**
 * Validates a raw controls object (from the REST API `controls` JSON, gwcli
 * `reconfigure`, or the stored document) and returns the values to STORE:
 * - unknown key → ERR_CONFIG_INVALID "Supported controls: a,b,c" (upstream text);
 * - `''`, `null` or `undefined` → the key is dropped (reset to the default);
 * - a value equal to `defaults[key]` (or the built-in default) is dropped too
 *   (upstream stores only overrides);
 * - otherwise the typed value.
 * Callers merge the result over the existing stored controls themselves when they
 * do a partial update, after deleting the keys the user reset; see mergeControls().
 */
export function normalizeControls(kind: ControlKind, raw: Record<string, unknown>, defaults?: ControlValues): ControlValues {
  const table = TABLES[kind];
  const out: ControlValues = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid('controls must be a JSON object');
  }
  for (const [key, value] of Object.entries(raw)) {
    const def = table.get(key);
    if (def === undefined) throw invalid(`Supported controls: ${[...table.keys()].join(',')}`);
    if (value === '' || value === null || value === undefined) continue;
    const v = normalizeControlValue(def, value);
    const d = defaults?.[key] ?? def.default;
    if (v === d) continue;
    out[key] = v;
  }
  return out;
}

/**
 * Applies a partial controls change to the stored overrides, with upstream's
 * reset semantics: keys given as ''/null reset (are removed), keys given with
 * the default value are removed, others are set. Unknown keys → ERR_CONFIG_INVALID.
 */
export function mergeControls(kind: ControlKind, stored: Record<string, unknown>, change: Record<string, unknown>, defaults?: ControlValues): ControlValues {
  const normalized = normalizeControls(kind, change, defaults);
  const out: ControlValues = {};
  // Keep only valid stored values (a hand-edited document must not poison the result).
  for (const [k, v] of Object.entries(effectiveOverrides(kind, stored, defaults))) out[k] = v;
  for (const key of Object.keys(change)) delete out[key];
  Object.assign(out, normalized);
  return out;
}

function effectiveOverrides(kind: ControlKind, stored: Record<string, unknown>, defaults?: ControlValues): ControlValues {
  const table = TABLES[kind];
  const out: ControlValues = {};
  for (const [key, value] of Object.entries(stored)) {
    const def = table.get(key);
    if (def === undefined || value === '' || value === null || value === undefined) continue;
    try {
      const v = normalizeControlValue(def, value);
      if (v !== (defaults?.[key] ?? def.default)) out[key] = v;
    } catch {
      // invalid stored override: ignored (the default applies)
    }
  }
  return out;
}

/**
 * The value of every control for a consumer: stored overrides over the
 * cluster-wide defaults (`[target]` section) over the built-in defaults.
 * Invalid or unknown stored values are ignored (never throws).
 */
export function effectiveControls(kind: ControlKind, stored: Record<string, unknown> | undefined, defaults?: ControlValues): ControlValues {
  const out = builtinControlDefaults(kind);
  if (defaults) {
    for (const [k, v] of Object.entries(defaults)) if (TABLES[kind].has(k)) out[k] = v;
  }
  if (stored && typeof stored === 'object') {
    Object.assign(out, effectiveOverrides(kind, stored, defaults));
  }
  return out;
}

export type ControlLimit = { min: number; max: number; type: 'int' } | { type: 'bool' };

/** Limits as `/api/settings` returns them (`target_controls_limits`, `disk_controls_limits`). */
export function controlsLimits(kind: ControlKind): Record<string, ControlLimit> {
  const out: Record<string, ControlLimit> = {};
  for (const d of TABLES[kind].values()) {
    out[d.name] = d.type === 'int' ? { min: d.min, max: d.max, type: 'int' } : { type: 'bool' };
  }
  return out;
}
