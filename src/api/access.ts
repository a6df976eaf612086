/**
 * Who may call the API (rbd-target-api.py `requires_restricted_auth` and
 * `requires_basic_auth`):
 *  1. source IP in the allow-list: the resolved address of every gateway named
 *     in the config, every IP of every target's ip_list, localhost, this host's
 *     own addresses and `trusted_ip_list` — else 403
 *     `API access not available to <ip>` (interface scope `%x` and the
 *     IPv4-mapped prefix `::ffff:` stripped first);
 *  2. HTTP Basic credentials equal to api_user/api_password — else 401
 *     `Missing credentials` / `username/password mismatch with the configuration file`.
 * Credentials are compared in constant time (upstream compares plain strings).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ApiAuthGuard } from './auth-guard.js';
import { authThrottleOptions } from '../config/settings.js';
import type { ApiContext } from './context.js';
import { gatewayNames } from './doc.js';
import { ApiError } from './errors.js';

export type AccessLevel = 'open' | 'basic' | 'restricted';

/** `::ffff:10.0.0.1%eth0` → `10.0.0.1` (rbd-target-api.py: rsplit('%') then split('::ffff:')). */
export function normalizeRemoteAddress(addr: string): string {
  let a = addr;
  const pct = a.lastIndexOf('%');
  if (pct >= 0) a = a.slice(0, pct);
  const mapped = a.toLowerCase().indexOf('::ffff:');
  if (mapped >= 0 && isIP(a.slice(mapped + 7)) === 4) a = a.slice(mapped + 7);
  return a;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string equality (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Parses `Authorization: Basic base64(user:password)`; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*basic\s+([A-Za-z0-9+/=._-]+)\s*$/i.exec(header);
  if (m === null || m[1] === undefined) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const RESOLVE_TTL_MS = 60_000;
const RESOLVE_TIMEOUT_MS = 2_000;

/** Default resolver: dns.lookup (hosts file + DNS), every address, with a timeout. */
export async function defaultResolveHost(name: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), RESOLVE_TIMEOUT_MS);
    timer.unref();
  });
  try {
    const found = lookup(name, { all: true, verbatim: true })
      .then((list) => list.map((a) => a.address))
      .catch(() => [] as string[]);
    return await Promise.race([found, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export class AccessControl {
  private readonly cache = new Map<string, { at: number; ips: string[] }>();
  private readonly resolveHost: (name: string) => Promise<string[]>;
  /** Guessing protection of the Basic-auth check. */
  readonly guard: ApiAuthGuard;

  constructor(private readonly ctx: ApiContext) {
    this.resolveHost = ctx.deps.resolveHost ?? defaultResolveHost;
    this.guard = new ApiAuthGuard(authThrottleOptions(ctx.deps.settings), ctx.deps.logger);
  }

  private async resolveCached(name: string): Promise<string[]> {
    if (isIP(name) !== 0) return [name];
    const hit = this.cache.get(name);
    const t = Date.now();
    if (hit !== undefined && t - hit.at < RESOLVE_TTL_MS) return hit.ips;
    const ips = (await this.resolveHost(name)).map(normalizeRemoteAddress);
    this.cache.set(name, { at: t, ips });
    return ips;
  }

  /** true when `ip` may use the restricted routes. */
  async ipAllowed(ip: string): Promise<boolean> {
    const { settings, status } = this.ctx.deps;
    // Fast path, no document read: loopback, this host, trusted_ip_list.
    if (ip === '127.0.0.1' || ip === '::1' || ip.startsWith('127.')) return true;
    if (settings.trusted_ip_list.some((x) => normalizeRemoteAddress(x) === ip)) return true;
    if (status.ipAddresses().some((x) => normalizeRemoteAddress(x) === ip)) return true;
    const doc = await this.ctx.load();
    for (const t of Object.values(doc.targets ?? {})) {
      if (typeof t === 'object' && t !== null && Array.isArray(t.ip_list) && t.ip_list.some((x) => normalizeRemoteAddress(String(x)) === ip)) return true;
    }
    const names = gatewayNames(doc);
    if (names.includes(ip)) return true;
    const resolved = await Promise.all(names.map((n) => this.resolveCached(n)));
    return resolved.some((ips) => ips.includes(ip));
  }

  /** Basic-auth check behind the guessing back-off; throws ApiError(401), or 429 when throttled. */
  async checkCredentials(req: FastifyRequest, ip: string): Promise<void> {
    const creds = parseBasicAuth(req.headers.authorization);
    if (creds === undefined) throw new ApiError(401, 'Missing credentials');
    const { api_user, api_password } = this.ctx.deps.settings;
    await this.guard.verify(ip, creds.user, () => {
      // Both compared, always (no early exit that would tell which one was wrong).
      const userOk = safeEqual(creds.user, api_user);
      const passOk = safeEqual(creds.password, api_password);
      return userOk && passOk;
    });
  }

  /** The whole check for one request at `level`; throws ApiError(403|401). */
  async check(req: FastifyRequest, level: AccessLevel): Promise<void> {
    if (level === 'open') return;
    const ip = normalizeRemoteAddress(req.ip);
    if (level === 'restricted' && !(await this.ipAllowed(ip))) throw new ApiError(403, `API access not available to ${ip}`);
    await this.checkCredentials(req, ip);
  }
}
