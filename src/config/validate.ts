/**
 * Validation rules shared by the REST API, gwcli and the config loader
 * (anchors §1.5 "Validation rules"). Messages are upstream's texts where
 * upstream has one (ceph-iscsi gwcli/utils.py valid_credentials,
 * ceph_iscsi_config/lun.py valid_disk, gwcli/hostgroup.py), so that clients
 * which grep them keep working.
 */
import { isIP } from 'node:net';
import { GatewayError } from '../util/errors.js';

/**
 * Normalises an iSCSI name as rtslib-fb `normalize_wwn(['iqn'], s)` does:
 * trimmed, lowercased, `iqn.YYYY-MM.<something>.<something>`, no spaces, no `_`.
 *
 * Only the `iqn.` form is accepted, as upstream does for targets and clients
 * (ceph-iscsi passes `['iqn']` everywhere); `naa.`/`eui.` names (RFC 7143 §4.2.7.1)
 * are not accepted because no ceph-iscsi client can create them and the config
 * document, the Dashboard and gwcli all assume IQNs.
 *
 * Throws GatewayError('ERR_CONFIG_INVALID_IQN') with rtslib's text "WWN not valid as: iqn".
 */
export function normalizeIqn(s: string): string {
  if (typeof s !== 'string') {
    throw new GatewayError('ERR_CONFIG_INVALID_IQN', 'WWN not valid as: iqn');
  }
  const wwn = s.trim().toLowerCase();
  if (!isValidIqn(wwn)) {
    throw new GatewayError('ERR_CONFIG_INVALID_IQN', 'WWN not valid as: iqn');
  }
  return wwn;
}

// rtslib-fb utils.py: re.match(r"iqn\.[0-9]{4}-[0-1][0-9]\..*\..*") (anchored at the start only),
// and no ' ' and no '_'. RFC 3720 §3.2.6.3.1 allows more, but LIO (and so every upstream
// deployment) never accepted those names. We also refuse control characters and names over
// 223 bytes (RFC 7143 §4.2.7.1 "iSCSI names ... up to 223 bytes").
const IQN_RE = /^iqn\.[0-9]{4}-[0-1][0-9]\..*\..*/s;
function isValidIqn(wwn: string): boolean {
  if (!IQN_RE.test(wwn)) return false;
  if (wwn.includes(' ') || wwn.includes('_')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(wwn)) return false;
  if (Buffer.byteLength(wwn, 'utf8') > 223) return false;
  return true;
}

/** true when `s` is a valid IQN after normalisation. */
export function validIqn(s: string): boolean {
  try {
    normalizeIqn(s);
    return true;
  } catch {
    return false;
  }
}

export interface ChapCredentials {
  username?: string | undefined;
  password?: string | undefined;
  mutual_username?: string | undefined;
  mutual_password?: string | undefined;
}

// ceph-iscsi gwcli/utils.py valid_credentials: Python `\w` is Unicode-aware in re; we keep
// ASCII (the documented set: "0 to 9, a to z, A to Z, @, _, -, ., :" for usernames and
// "0 to 9, a to z, A to Z, @, _, -, /" for passwords). Upstream's character class also lets
// a backslash through for usernames (`\\.` inside []); we follow the documented set.
const CHAP_USER_RE = /^[A-Za-z0-9_.:@-]{8,64}$/;
const CHAP_PASS_RE = /^[A-Za-z0-9_@/-]{12,16}$/;

/**
 * Returns upstream's error message for an invalid CHAP 4-tuple, or null when the
 * credentials are acceptable. All four empty = CHAP disabled (valid).
 */
export function validChapCredentials(c: ChapCredentials): string | null {
  const username = c.username ?? '';
  const password = c.password ?? '';
  const mutualUsername = c.mutual_username ?? '';
  const mutualPassword = c.mutual_password ?? '';

  if (username && !password) return 'Password is required';
  if (!username && (password || mutualUsername)) return 'Username is required';
  if (mutualUsername && !mutualPassword) return 'Mutual password is required';
  if (!mutualUsername && mutualPassword) return 'Mutual username is required';

  if (username && username.length < 8) return 'Minimum length of username is 8 characters';
  if (username && username.length > 64) return 'Maximum length of username is 64 characters';
  if (username && !CHAP_USER_RE.test(username)) return 'Invalid username';

  if (mutualUsername && mutualUsername.length < 8) return 'Minimum length of mutual username is 8 characters';
  if (mutualUsername && mutualUsername.length > 64) return 'Maximum length of mutual username is 64 characters';
  if (mutualUsername && !CHAP_USER_RE.test(mutualUsername)) return 'Invalid mutual username';

  if (password && password.length < 12) return 'Minimum length of password is 12 characters';
  if (password && password.length > 16) return 'Maximum length of password is 16 characters';
  if (password && !CHAP_PASS_RE.test(password)) return 'Invalid password';

  if (mutualPassword && mutualPassword.length < 12) return 'Minimum length of mutual password is 12 characters';
  if (mutualPassword && mutualPassword.length > 16) return 'Maximum length of mutual password is 16 characters';
  if (mutualPassword && !CHAP_PASS_RE.test(mutualPassword)) return 'Invalid mutual password';

  // Ceph docs (iSCSI target CLI): "For mutual CHAP, initiator and target usernames and
  // passwords must not be the same." RFC 7143 §12.1.3: "Any CHAP secret used for initiator
  // authentication MUST NOT be configured for authentication of any target".
  // Upstream's code does not check this; LIO refused such logins at run time.
  if (mutualUsername && mutualUsername === username) {
    return 'Mutual username must not be the same as the username';
  }
  if (mutualPassword && mutualPassword === password) {
    return 'Mutual password must not be the same as the password';
  }
  return null;
}

// ceph_iscsi_config/lun.py valid_disk: disk_regex = r"^[a-zA-Z0-9\-_\.]+$"
const DISK_NAME_RE = /^[a-zA-Z0-9\-_.]+$/;

/** Pool name rule of ceph-iscsi `valid_disk`. */
export function validPoolName(name: string): boolean {
  return typeof name === 'string' && DISK_NAME_RE.test(name);
}

/** Image name rule of ceph-iscsi `valid_disk`. */
export function validImageName(name: string): boolean {
  return typeof name === 'string' && DISK_NAME_RE.test(name);
}

export const INVALID_POOL_NAME_MESSAGE = "Invalid pool name (use alphanumeric, '_', '.', or '-' characters)";
export const INVALID_IMAGE_NAME_MESSAGE = "Invalid image name (use alphanumeric, '_', '.', or '-' characters)";
export const INVALID_SIZE_MESSAGE = 'Size is invalid';
export const INVALID_SNAPSHOT_NAME_MESSAGE = 'snapshot name is invalid';
export const INVALID_GROUP_NAME_MESSAGE = 'Invalid group name - max of 32 chars of alphanumeric and -,_,@ characters';

// ceph_iscsi_config/utils.py size_suffixes = ['M', 'G', 'T'], power 2/3/4 of 1024.
const SIZE_POWERS: Readonly<Record<string, number>> = { M: 2, G: 3, T: 4 };

/**
 * Parses a disk size as ceph-iscsi's `valid_size` + `convert_2_bytes`: a
 * decimal integer followed by M, G or T (case-insensitive; binary units).
 * No K and no decimals (upstream: "Must be an integer, suffixed by M, G or T").
 * A plain integer is taken as bytes (convert_2_bytes) — but only where the
 * caller allows it (`allowBytes`, default false, since valid_size refuses it).
 * Returns the size in bytes or throws GatewayError('ERR_CONFIG_INVALID_SIZE', 'Size is invalid').
 */
export function parseSize(s: string, opts: { allowBytes?: boolean } = {}): number {
  if (typeof s !== 'string') throw new GatewayError('ERR_CONFIG_INVALID_SIZE', INVALID_SIZE_MESSAGE);
  const t = s.trim();
  if (opts.allowBytes === true && /^[0-9]+$/.test(t)) {
    const n = Number(t);
    if (!Number.isSafeInteger(n)) throw new GatewayError('ERR_CONFIG_INVALID_SIZE', INVALID_SIZE_MESSAGE);
    return n;
  }
  const m = /^([0-9]+)([MmGgTt])$/.exec(t);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new GatewayError('ERR_CONFIG_INVALID_SIZE', INVALID_SIZE_MESSAGE);
  }
  const power = SIZE_POWERS[m[2].toUpperCase()];
  if (power === undefined) throw new GatewayError('ERR_CONFIG_INVALID_SIZE', INVALID_SIZE_MESSAGE);
  const bytes = BigInt(m[1]) * 1024n ** BigInt(power);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GatewayError('ERR_CONFIG_INVALID_SIZE', INVALID_SIZE_MESSAGE);
  }
  return Number(bytes);
}

/** true when `s` is a size that parseSize accepts (ceph-iscsi `valid_size`). */
export function validSize(s: string): boolean {
  try {
    parseSize(s);
    return true;
  } catch {
    return false;
  }
}

/** Human size as ceph-iscsi `human_size` (1073741824 → "1G", 1536 → "1536b"... see tests). */
export function humanSize(bytes: number): string {
  let num = bytes;
  const units: ReadonlyArray<readonly [string, number]> = [
    ['b', 0], ['K', 0], ['M', 0], ['G', 0], ['T', 1], ['P', 1], ['E', 2], ['Z', 2],
  ];
  for (const [unit, precision] of units) {
    if (num % 1024 !== 0) return `${num.toFixed(precision)}${unit}`;
    num /= 1024;
  }
  return `${num.toFixed(2)}Y`;
}

// gwcli/utils.py valid_snapshot_name: r"^[^/@]+$"
/** Snapshot name rule: no '/' and no '@', not empty. */
export function validSnapshotName(name: string): boolean {
  return typeof name === 'string' && /^[^/@]+$/.test(name);
}

// gwcli/hostgroup.py: r"^[\w\@\-\_]{1,32}$" (group_name_length = 32)
/** Host group name rule: 1–32 of letters, digits, '_', '@', '-'. */
export function validGroupName(name: string): boolean {
  return typeof name === 'string' && /^[A-Za-z0-9_@-]{1,32}$/.test(name);
}

/**
 * ceph_iscsi_config/utils.py normalize_ip_address: an IPv6 literal loses its
 * brackets (RFC 3986 "[::1]" → "::1"); anything else is returned as is.
 */
export function normalizeIpAddress(s: string): string {
  const m = /^\[(.*)\]$/.exec(s.trim());
  return m?.[1] ?? s.trim();
}

/** true for an IPv4 or IPv6 address (brackets allowed around IPv6, a %zone suffix as node:net isIP allows; no port). */
export function validIpAddress(s: string): boolean {
  return typeof s === 'string' && isIP(normalizeIpAddress(s)) !== 0;
}
