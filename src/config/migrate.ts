/**
 * Versioned upgrades of the configuration document (ceph-iscsi common.py
 * `Config._upgrade_config`). We read versions 10 and 11 — the range the Ceph
 * Dashboard accepts (REQUIRED_CEPH_ISCSI_CONFIG_MIN_VERSION 10, MAX 11) — and
 * upgrade 10 → 11. Older documents need upstream's own rolling v2..v9 → v10
 * upgrade (it renames gateways host by host to their FQDN), so we refuse them.
 */
import { GatewayError } from '../util/errors.js';
import { CONFIG_VERSION, emptyChapAuth, type GatewayConfig } from './schema.js';

export const MIN_CONFIG_VERSION = 10;

export interface MigrationResult {
  doc: GatewayConfig;
  /** true when the document was upgraded (and should be written back). */
  changed: boolean;
  /** The version the document had. */
  fromVersion: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates the document's shape enough to work with it and upgrades it to
 * CONFIG_VERSION in place. `source` names the file/object in error messages.
 * Throws GatewayError ERR_CONFIG_VERSION (unsupported version) or
 * ERR_CONFIG_CORRUPT (not a config document).
 */
export function migrateConfig(raw: unknown, source = 'gateway.conf'): MigrationResult {
  if (!isObject(raw)) {
    throw new GatewayError('ERR_CONFIG_CORRUPT', `${source}: not a configuration document (expected a JSON object)`);
  }
  const version = raw.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) {
    throw new GatewayError('ERR_CONFIG_CORRUPT', `${source}: "version" is missing or not an integer`);
  }
  if (version > CONFIG_VERSION) {
    throw new GatewayError(
      'ERR_CONFIG_VERSION',
      `${source}: config version ${version} is newer than this gateway supports (${CONFIG_VERSION}); upgrade the gateway`,
    );
  }
  if (version < MIN_CONFIG_VERSION) {
    throw new GatewayError(
      'ERR_CONFIG_VERSION',
      `${source}: config version ${version} is unsupported (need ${MIN_CONFIG_VERSION} or ${CONFIG_VERSION}); ` +
        'upgrade it with ceph-iscsi 3.x on every gateway first',
    );
  }
  // Containers every reader relies on; a hand-edited document may lack them.
  for (const key of ['disks', 'gateways', 'targets'] as const) {
    if (raw[key] === undefined) raw[key] = {};
    else if (!isObject(raw[key])) {
      throw new GatewayError('ERR_CONFIG_CORRUPT', `${source}: "${key}" must be a JSON object`);
    }
  }
  if (!isObject(raw.discovery_auth)) raw.discovery_auth = emptyChapAuth();
  if (typeof raw.epoch !== 'number') raw.epoch = 0;

  let changed = false;
  if (version === 10) {
    upgrade10to11(raw, source);
    changed = true;
  }
  return { doc: raw as GatewayConfig, changed, fromVersion: version };
}

/**
 * v10 → v11 (common.py): every target gets a target-level `auth` (all empty) and
 * its `disks` list becomes `{disk_id: {lun_id}}`, lun ids assigned in sorted
 * disk-id order from 0.
 */
function upgrade10to11(doc: Record<string, unknown>, source: string): void {
  const targets = doc.targets as Record<string, unknown>;
  for (const [iqn, t] of Object.entries(targets)) {
    if (!isObject(t)) {
      throw new GatewayError('ERR_CONFIG_CORRUPT', `${source}: targets["${iqn}"] must be a JSON object`);
    }
    t.auth = emptyChapAuth();
    const disks = t.disks;
    if (Array.isArray(disks)) {
      const ids = disks.filter((d): d is string => typeof d === 'string').sort();
      const out: Record<string, { lun_id: number }> = {};
      ids.forEach((id, index) => {
        out[id] = { lun_id: index };
      });
      t.disks = out;
    } else if (disks === undefined) {
      t.disks = {};
    } else if (isObject(disks)) {
      // Already keyed (a half-upgraded document): keep lun ids, number the rest.
      const used = new Set<number>();
      for (const v of Object.values(disks)) if (isObject(v) && typeof v.lun_id === 'number') used.add(v.lun_id);
      let next = 0;
      for (const id of Object.keys(disks).sort()) {
        const v = disks[id];
        if (isObject(v) && typeof v.lun_id === 'number') continue;
        while (used.has(next)) next++;
        disks[id] = { lun_id: next };
        used.add(next);
      }
    } else {
      throw new GatewayError('ERR_CONFIG_CORRUPT', `${source}: targets["${iqn}"].disks must be a list or an object`);
    }
  }
  doc.version = 11;
}
