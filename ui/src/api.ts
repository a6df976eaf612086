/**
 * The console's REST client: the same rbd-target-api routes and form fields as gwcli
 * (src/cli/client.ts). The browser sends the Basic credentials it was challenged for on /ui/.
 */

/** A refused call: the HTTP status and the API's `{"message": ...}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Form = Record<string, string | undefined>;

/** `/api/` + each segment encoded; a disk id `pool/image` is two segments. */
export function apiPath(...segments: string[]): string {
  return '/api/' + segments.flatMap((s) => s.split('/')).map(encodeURIComponent).join('/');
}

async function call<T>(method: string, path: string, form?: Form): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (form !== undefined) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v);
    init.body = body;
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) {
    const msg = typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body as T;
}

export const api = {
  get: <T>(path: string): Promise<T> => call<T>('GET', path),
  put: <T = { message?: string }>(path: string, form: Form = {}): Promise<T> => call<T>('PUT', path, form),
  del: <T = { message?: string }>(path: string, form: Form = {}): Promise<T> => call<T>('DELETE', path, form),
};

// --- Shapes of the replies the console reads -------------------------------------------------

export interface Chap {
  username: string;
  mutual_username: string;
}
export interface ClientDoc {
  auth: Chap;
  group_name: string;
  luns: Record<string, { lun_id: number }>;
}
export interface TargetDoc {
  acl_enabled: boolean;
  auth: Chap;
  controls: Record<string, unknown>;
  ip_list: string[];
  portals: Record<string, { portal_ip_addresses: string[]; inactive_portal_ips: string[] }>;
  disks: Record<string, { lun_id: number }>;
  clients: Record<string, ClientDoc>;
  groups: Record<string, { members: string[]; disks: Record<string, { lun_id: number }> }>;
}
export interface DiskDoc {
  pool: string;
  image: string;
  backstore: string;
  owner?: string;
  wwn: string;
  controls: Record<string, unknown>;
}
export interface ConfigDoc {
  epoch: number;
  gateways: Record<string, unknown>;
  targets: Record<string, TargetDoc>;
  disks: Record<string, DiskDoc>;
}
export interface ClusterInfo {
  backstore: string;
  health: string;
  checks: string[];
  pools: { name: string }[];
}
export interface DiskInfo {
  size?: number;
  snapshots?: string[];
  [key: string]: unknown;
}
// The stats route's reply, typed by the route itself (a type-only import: nothing of the server is bundled).
export type { LunStats, StatsReply } from '../../src/api/routes/stats.js';
import type { StatsReply } from '../../src/api/routes/stats.js';
export type SessionRow = StatsReply['sessions'][number];
