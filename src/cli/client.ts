/**
 * Typed REST client of gwcli: talks to the rbd-target-api compatible API only (as upstream gwcli
 * does through `APIRequest`): Basic auth, form-encoded PUT/DELETE bodies, JSON replies.
 * Errors carry the server's `message` (rbd-target-api answers `{"message": "..."}`).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export const DEFAULT_CFG = '/etc/ceph/iscsi-gateway.cfg';

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export interface ApiLocation {
  /** e.g. http://127.0.0.1:5000 (no trailing slash) */
  base: string;
  user: string;
  password: string;
}

/**
 * Minimal INI reader (cli/ must not import config/settings.ts: STYLE §4.2): `[section]`,
 * `key = value` or `key: value`, `#`/`;` comment lines. Keys are lowercased as configparser does.
 */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      out[section] ??= {};
      continue;
    }
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) continue;
    (out[section] ??= {})[m[1]!.toLowerCase()] = m[2]!;
  }
  return out;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['true', 'yes', '1', 'on'].includes(v.trim().toLowerCase());
}

/**
 * Where the API is: `--api URL` (user:password@ allowed in the URL) wins; otherwise the [config]
 * section of iscsi-gateway.cfg (api_host, api_port, api_user, api_password, api_secure), with
 * upstream's defaults (port 5000, admin/admin, http).
 */
export function resolveApi(opts: { api?: string | undefined; config?: string | undefined; readFile?: (p: string) => string }): ApiLocation {
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  let cfg: Record<string, string> = {};
  const cfgPath = opts.config ?? DEFAULT_CFG;
  try {
    cfg = parseIni(read(cfgPath))['config'] ?? {};
  } catch (e) {
    // Without --api the file is required; with --api it only supplies credentials.
    if (opts.api === undefined) throw new Error(`cannot read ${cfgPath}: ${(e as Error).message} (use --api URL or --config FILE)`);
  }
  const user = cfg['api_user'] ?? 'admin';
  const password = cfg['api_password'] ?? 'admin';
  if (opts.api !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.api);
    } catch {
      throw new Error(`invalid --api URL: ${opts.api}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`invalid --api URL (http or https): ${opts.api}`);
    const uUser = u.username !== '' ? decodeURIComponent(u.username) : user;
    const uPass = u.password !== '' ? decodeURIComponent(u.password) : password;
    return { base: `${u.protocol}//${u.host}`, user: uUser, password: uPass };
  }
  const secure = truthy(cfg['api_secure']);
  let host = cfg['api_host'] ?? '127.0.0.1';
  if (host === '' || host === '0.0.0.0' || host === '::') host = '127.0.0.1';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const port = cfg['api_port'] ?? '5000';
  return { base: `${secure ? 'https' : 'http'}://${host}:${port}`, user, password };
}

export type Form = Record<string, string>;

export class ApiClient {
  private readonly auth: string;
  constructor(
    readonly loc: ApiLocation,
    private readonly timeoutMs = 30_000,
  ) {
    this.auth = 'Basic ' + Buffer.from(`${loc.user}:${loc.password}`).toString('base64');
  }

  get<T = unknown>(path: string, query?: Form): Promise<T> {
    const q = query ? '?' + new URLSearchParams(query).toString() : '';
    return this.call<T>('GET', path + q);
  }
  put<T = unknown>(path: string, form: Form = {}): Promise<T> {
    return this.call<T>('PUT', path, form);
  }
  delete<T = unknown>(path: string, form: Form = {}): Promise<T> {
    return this.call<T>('DELETE', path, form);
  }

  /** Any reply status; used for `_ping` and gateway state. */
  status(path: string, base = this.loc.base, timeoutMs = 3_000): Promise<number> {
    return this.raw('GET', base + path, undefined, timeoutMs).then(
      (r) => r.status,
      () => 0,
    );
  }

  private async call<T>(method: string, path: string, form?: Form): Promise<T> {
    let r: { status: number; text: string };
    try {
      r = await this.raw(method, this.loc.base + path, form, this.timeoutMs);
    } catch (e) {
      throw new ApiCallError(0, `Unable to contact the API endpoint ${this.loc.base}: ${(e as Error).message}`);
    }
    let body: unknown;
    try {
      body = r.text === '' ? {} : JSON.parse(r.text);
    } catch {
      body = { message: r.text };
    }
    if (r.status < 200 || r.status >= 300) {
      const msg = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : r.text || `HTTP ${r.status}`;
      throw new ApiCallError(r.status, msg);
    }
    return body as T;
  }

  private raw(method: string, url: string, form: Form | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const body = form !== undefined ? new URLSearchParams(form).toString() : undefined;
      const headers: Record<string, string> = { authorization: this.auth, accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      // Self-signed certificates are accepted as upstream gwcli does (api_ssl_verify = false).
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method, headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
