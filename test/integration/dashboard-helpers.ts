/**
 * The real Ceph Dashboard (Debian ceph-mgr-dashboard 16.2) on a ceph-mini cluster with a mgr:
 * the module enabled on 127.0.0.1 without TLS, an administrator, gateways registered with
 * `ceph dashboard iscsi-gateway-add`, and a client of its REST API that calls it as its web
 * pages do (a token from POST /api/auth, the versioned Accept header) and keeps a log of every
 * call with its status (the test prints it).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CephCluster } from './ceph-helpers.js';
import { freePort, waitFor } from './helpers.js';

export const DASHBOARD_PACKAGE = 'ceph-mgr-dashboard';
const DASHBOARD_DIR = '/usr/share/ceph/mgr/dashboard';
export const CHROMIUM = '/usr/bin/chromium';
export const DASH_USER = 'admin';
export const DASH_PASSWORD = 'Dashb0ard-Test!';

/** Throws naming the Debian packages when the Dashboard module or Chromium is missing. */
export function requireDashboard(): void {
  const missing = [
    ...(existsSync(join(DASHBOARD_DIR, 'module.py')) ? [] : [DASHBOARD_PACKAGE]),
    ...(existsSync(CHROMIUM) ? [] : ['chromium']),
  ];
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')} — install with: sudo bash .ci/run (apt-get install -y --no-install-recommends ${missing.join(' ')})`);
  }
}

export interface DashCall {
  method: string;
  path: string;
  status: number;
}

export interface DashReply {
  status: number;
  body: unknown;
  text: string;
}

export class DashboardClient {
  readonly calls: DashCall[] = [];
  private token = '';

  constructor(readonly base: string) {}

  async login(): Promise<void> {
    const r = await this.call('POST', '/api/auth', { username: DASH_USER, password: DASH_PASSWORD });
    const token = (r.body as { token?: unknown }).token;
    if (r.status !== 201 || typeof token !== 'string') throw new Error(`POST /api/auth answered ${r.status}: ${r.text}`);
    this.token = token;
  }

  async call(method: string, path: string, body?: unknown): Promise<DashReply> {
    const headers: Record<string, string> = { Accept: 'application/vnd.ceph.api.v1.0+json' };
    if (this.token !== '') headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON
    }
    this.calls.push({ method, path: path.replace(/password=[^&]*/g, 'password=***'), status: res.status });
    return { status: res.status, body: parsed, text };
  }

  /** The call must answer one of `statuses`; returns its JSON. */
  async must<T>(method: string, path: string, body?: unknown, statuses: readonly number[] = [200]): Promise<T> {
    const r = await this.call(method, path, body);
    if (!statuses.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status} (want ${statuses.join('/')}): ${r.text}`);
    return r.body as T;
  }

  /**
   * An iSCSI target task (create/edit/delete): the Dashboard answers 201/200/204 when it ended
   * within 2 s, else 202 and runs on; then its end is polled in /api/task. Throws with the
   * task's exception when it failed.
   */
  async task(method: string, path: string, name: string, body: unknown, done: number): Promise<number> {
    const before = Date.now() / 1000;
    const r = await this.call(method, path, body);
    if (r.status === done) return r.status;
    if (r.status !== 202) throw new Error(`${method} ${path} answered ${r.status}: ${r.text}`);
    type Task = { name: string; metadata: Record<string, unknown>; success?: boolean; exception?: unknown; end_time?: string };
    const finished = await waitFor(
      `task ${name} to end`,
      async () => {
        const t = await this.must<{ executing_tasks: Task[]; finished_tasks: Task[] }>('GET', `/api/task?name=${encodeURIComponent(name)}`);
        if (t.executing_tasks.length > 0) return undefined;
        return t.finished_tasks.find((x) => x.end_time !== undefined && Date.parse(x.end_time) / 1000 >= before - 1);
      },
      120_000,
      250,
    );
    if (finished.success !== true) throw new Error(`task ${name} failed: ${JSON.stringify(finished.exception)}`);
    return r.status;
  }
}

/**
 * Enables the dashboard module (127.0.0.1, a free port, no TLS), creates the administrator and
 * waits until POST /api/auth works. mgr_stats_period 1 s: the overview's rates after seconds.
 */
export async function startDashboard(ceph: CephCluster, dir: string): Promise<DashboardClient> {
  const port = await freePort();
  for (const [k, v] of [
    ['mgr/dashboard/ssl', 'false'],
    ['mgr/dashboard/server_addr', '127.0.0.1'],
    ['mgr/dashboard/server_port', String(port)],
    ['mgr_stats_period', '1'],
  ] as const) {
    await ceph.must('ceph', ['config', 'set', 'mgr', k, v]);
  }
  await ceph.must('ceph', ['mgr', 'module', 'enable', 'dashboard']);
  const pw = join(dir, 'dashboard-password');
  await writeFile(pw, DASH_PASSWORD, { mode: 0o600 });
  await waitFor('the dashboard module to take commands', async () => ((await ceph.ceph(['dashboard', 'ac-user-create', DASH_USER, '-i', pw, 'administrator'])).code === 0 ? true : undefined), 60_000, 500);
  const dash = new DashboardClient(`http://127.0.0.1:${port}`);
  await waitFor('the dashboard to serve /api/auth', async () => {
    await dash.login();
    return true;
  }, 60_000, 500);
  return dash;
}

/** `ceph dashboard iscsi-gateway-add -i <file with the URL> <name>`. */
export async function addIscsiGateway(ceph: CephCluster, dir: string, name: string, url: string): Promise<void> {
  const f = join(dir, `gw-url-${name}`);
  await writeFile(f, url, { mode: 0o600 });
  await ceph.must('ceph', ['dashboard', 'iscsi-gateway-add', '-i', f, name]);
}
