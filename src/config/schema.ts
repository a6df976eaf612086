/**
 * The cluster configuration document: ceph-iscsi's gateway.conf, version 11
 * (ceph_iscsi_config/common.py seed_config and the objects that add to it).
 * Unknown keys are kept as they are (a mixed fleet with upstream gateways must
 * be able to read what we write and the other way round).
 */

export const CONFIG_VERSION = 11;

export interface ChapAuth {
  username: string;
  password: string;
  password_encryption_enabled: boolean;
  mutual_username: string;
  mutual_password: string;
  mutual_password_encryption_enabled: boolean;
}

export interface GatewayEntry {
  active_luns: number;
  created: string;
  updated: string;
  [key: string]: unknown;
}

export interface DiskEntry {
  pool: string;
  image: string;
  pool_id: number;
  wwn: string;
  backstore: string;
  backstore_object_name: string;
  allocating_host: string;
  /** Present only while the disk is mapped to a target (the ALUA active/optimized gateway). */
  owner?: string;
  controls: Record<string, unknown>;
  created: string;
  updated: string;
  [key: string]: unknown;
}

export interface PortalEntry {
  portal_ip_addresses: string[];
  gateway_ip_list: string[];
  inactive_portal_ips: string[];
  tpgs: number;
  created?: string;
  updated?: string;
  [key: string]: unknown;
}

export interface LunRef {
  lun_id: number;
}

export interface ClientEntry {
  auth: ChapAuth;
  group_name: string;
  luns: Record<string, LunRef>;
  created?: string;
  updated?: string;
  [key: string]: unknown;
}

export interface GroupEntry {
  members: string[];
  disks: Record<string, LunRef>;
  created?: string;
  updated?: string;
  [key: string]: unknown;
}

export interface TargetEntry {
  acl_enabled: boolean;
  auth: ChapAuth;
  controls: Record<string, unknown>;
  /** Ordered: index i is TPG tag i+1 on every gateway. */
  ip_list: string[];
  portals: Record<string, PortalEntry>;
  disks: Record<string, LunRef>;
  clients: Record<string, ClientEntry>;
  groups: Record<string, GroupEntry>;
  created: string;
  updated: string;
  [key: string]: unknown;
}

export interface GatewayConfig {
  version: number;
  epoch: number;
  created: string;
  updated: string;
  discovery_auth: ChapAuth;
  /** Keyed by gateway name; upstream sometimes leaves non-object entries here: filter them. */
  gateways: Record<string, GatewayEntry | unknown>;
  disks: Record<string, DiskEntry>;
  targets: Record<string, TargetEntry>;
  [key: string]: unknown;
}

export function emptyChapAuth(): ChapAuth {
  return {
    username: '',
    password: '',
    password_encryption_enabled: false,
    mutual_username: '',
    mutual_password: '',
    mutual_password_encryption_enabled: false,
  };
}

/** UTC "%Y/%m/%d %H:%M:%S", as ceph_iscsi_config.utils.get_time. */
export function configTime(d: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

export function seedConfig(now: Date = new Date()): GatewayConfig {
  const t = configTime(now);
  return {
    disks: {},
    gateways: {},
    targets: {},
    discovery_auth: emptyChapAuth(),
    version: CONFIG_VERSION,
    epoch: 0,
    created: t,
    updated: t,
  };
}

export function isGatewayEntry(v: unknown): v is GatewayEntry {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
