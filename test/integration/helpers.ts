/**
 * Helpers for daemon-level integration tests: free ports, temp dirs, the gateway daemon
 * (`node dist/src/main.js --config FILE`) with its iscsi-gateway.cfg, a REST client (Basic auth,
 * form bodies as rbd-target-api expects), commands with timeouts, and a private tgtd as peer.
 *
 * Everything listens on 127.0.0.1 only; ports come from the kernel (listen on port 0, read back).
 * Nothing here sleeps for synchronisation: readiness is polled with a deadline.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** Repository root: the nearest ancestor of this file holding package.json (works from test/ and dist/test/). */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
})();

/** The compiled daemon entry point (`npm test` runs tsc first). */
export const DAEMON_MAIN = join(ROOT, 'dist', 'src', 'main.js');

export const TARGET_IQN = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
export const CLIENT_IQN = 'iqn.1994-05.com.redhat:rh7-client';
export const CHAP_USER = 'myiscsiusername';
export const CHAP_PASS = 'myiscsipassw0rd';
/** iscsi-test-cu's two default initiator names (`-i` / `-I`). */
export const TEST_CU_INITIATORS = [
  'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test',
  'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2',
] as const;
/** qemu's initiator name when no VM name/uuid is set (qemu-img, qemu-io). */
export const QEMU_INITIATOR = 'iqn.2008-11.org.linux-kvm';
export const GIB = 1024 * 1024 * 1024;

// Safety net: whatever a test does (an assertion throws before its after(), the runner ends the
// file), no daemon or tgtd we started outlives this process. Synchronous, so it works in 'exit'.
const liveChildren = new Set<ChildProcess>();
const liveTgts = new Map<number, { ctl: number; dir: string }>();
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
  for (const [pid, { ctl, dir }] of liveTgts) {
    spawnSync('bash', [join(ROOT, 'scripts', 'tgt-stop.sh'), String(pid), String(ctl)], { stdio: 'ignore', timeout: 15_000 });
    rmSync(dir, { recursive: true, force: true }); // a thick 1 GiB image must not stay behind
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it returns a non-undefined value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await delay(intervalMs);
  }
}

/**
 * A TCP port that was free a moment ago, for a daemon to listen on. Picked at random below
 * Linux's ephemeral range (32768-60999) and checked by listening on it: a port the kernel
 * hands out for "listen on 0" comes from that range, where every outgoing connection of a
 * parallel test (qemu, libiscsi, librados) also takes its local port, and one did take it
 * between this check and the daemon's listen (CI: EADDRINUSE, the daemon exited with 16).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = FREE_PORT_LOW + Math.floor(Math.random() * (FREE_PORT_HIGH - FREE_PORT_LOW));
    if (await canListen(port, host)) return port;
  }
  return kernelPort(host); // the whole range busy: let the kernel choose
}

const FREE_PORT_LOW = 20000;
const FREE_PORT_HIGH = 30000; // ceph-mini-start.sh picks its mon ports in the 2,000 just below 32768

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** A fresh directory under the OS temp dir. */
/** A port free on every one of `hosts` (several loopback addresses, for several gateways). */
export async function freePortOn(hosts: readonly string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort(hosts[0]);
    const others = await Promise.all(hosts.slice(1).map((h) => canListen(port, h)));
    if (others.every(Boolean)) return port;
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

export async function tempDir(prefix = 'igw-it-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** stdout + stderr, for messages. */
  output: string;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a command (no shell) with a hard timeout (SIGKILL), capturing its output. Never rejects on exit status. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      resolve({ code: -1, signal: null, stdout: '', stderr: msg, timedOut: false, output: msg });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let settled = false;
    const done = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8') + extra;
      resolve({ code, signal, stdout, stderr, timedOut, output: stdout + stderr });
    };
    child.on('error', (e) => done(-1, null, e.message));
    child.on('close', (code, signal) => done(code, signal));
  });
}

/** Whether a program is on PATH. */
export function have(program: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':');
  return dirs.some((d) => d !== '' && existsSync(join(d, program)));
}

/** Throws a clear error naming the missing tools (tests must fail, not skip, without their peers). */
export function requireTools(...programs: string[]): void {
  const missing = programs.filter((p) => !have(p));
  if (missing.length > 0) {
    throw new Error(`missing tools: ${missing.join(', ')} — install with: sudo bash .ci/run (apt: libiscsi-bin qemu-utils qemu-block-extra tgt)`);
  }
}

// ---------------------------------------------------------------------------------------------
// REST client (rbd-target-api conventions: Basic auth, form-encoded PUT/DELETE bodies, JSON replies)

export interface ApiReply {
  status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  body: unknown;
  text: string;
}

export class RestClient {
  readonly base: string;
  private readonly auth: string;

  constructor(host: string, port: number, user = 'admin', password = 'admin') {
    this.base = `http://${host}:${port}`;
    this.auth = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  }

  async request(method: string, path: string, form?: Record<string, string>, timeoutMs = 30_000): Promise<ApiReply> {
    const headers: Record<string, string> = { authorization: this.auth };
    let body: string | undefined;
    if (form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.base + path, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed, text };
  }

  get(path: string): Promise<ApiReply> {
    return this.request('GET', path);
  }
  put(path: string, form: Record<string, string> = {}): Promise<ApiReply> {
    return this.request('PUT', path, form);
  }
  del(path: string, form: Record<string, string> = {}): Promise<ApiReply> {
    return this.request('DELETE', path, form);
  }

  /** PUT/DELETE that must succeed (2xx); otherwise throws with the server's message. */
  async must(method: 'PUT' | 'DELETE' | 'GET', path: string, form?: Record<string, string>): Promise<ApiReply> {
    const r = await this.request(method, path, form);
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path} -> HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    }
    return r;
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway daemon

export interface DaemonOptions {
  /** Reuse a data dir (restart tests); default: a fresh temp dir. */
  dataDir?: string;
  gatewayName?: string;
  /** iSCSI port (default: a free one). Gateways of one target share it, as 3260 in production. */
  iscsiPort?: number;
  /** Extra `[config]` keys. */
  extra?: Record<string, string>;
  /** Extra environment variables for the daemon (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** The API password the test client uses (default: the cfg's api_password; differs when that is a config:// value). */
  apiPassword?: string;
}

/** Last `max` characters of a file (daemon logs in failure messages). */
function tail(path: string, max = 4000): string {
  try {
    const size = statSync(path).size;
    const text = readFileSync(path, 'utf8');
    return size > max ? '…' + text.slice(-max) : text;
  } catch {
    return '(no log)';
  }
}

export class Daemon {
  child: ChildProcess | null = null;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  readonly api: RestClient;

  private constructor(
    readonly dir: string,
    readonly dataDir: string,
    readonly cfgPath: string,
    readonly apiPort: number,
    readonly iscsiPort: number,
    readonly gatewayName: string,
    readonly logPath: string,
    private readonly extraEnv: Record<string, string>,
    apiUser: string,
    apiPassword: string,
  ) {
    this.api = new RestClient('127.0.0.1', apiPort, apiUser, apiPassword);
  }

  /** Writes the cfg (fresh ports, temp data dir) and starts the daemon; resolves when `/api/_ping` answers 200. */
  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    if (!existsSync(DAEMON_MAIN)) {
      throw new Error(
        `daemon entry point ${DAEMON_MAIN} is missing: src/main.ts not written or not compiled (run: npx tsc -p tsconfig.json)`,
      );
    }
    const dir = await tempDir('igw-daemon-');
    liveDirs.add(dir);
    const dataDir = opts.dataDir ?? join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const apiPort = await freePort();
    let iscsiPort = opts.iscsiPort ?? (await freePort());
    while (iscsiPort === apiPort) iscsiPort = await freePort();
    // Never the default 9287 (shared by every daemon of a parallel run): a free port, loopback only.
    let metricsPort = await freePort();
    while (metricsPort === apiPort || metricsPort === iscsiPort) metricsPort = await freePort();
    const gatewayName = opts.gatewayName ?? 'igw-test';
    const keys: Record<string, string> = {
      api_host: '127.0.0.1',
      api_port: String(apiPort),
      api_user: 'admin',
      api_password: 'admin',
      api_secure: 'false',
      minimum_gateways: '1',
      trusted_ip_list: '127.0.0.1',
      backstore: 'file',
      data_dir: dataDir,
      iscsi_port: String(iscsiPort),
      gateway_name: gatewayName,
      prometheus_host: '127.0.0.1',
      prometheus_port: String(metricsPort),
      ...opts.extra,
    };
    const cfgPath = join(dir, 'iscsi-gateway.cfg');
    await writeFile(cfgPath, '[config]\n' + Object.entries(keys).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
    const d = new Daemon(dir, dataDir, cfgPath, apiPort, iscsiPort, gatewayName, join(dir, 'daemon.log'), opts.env ?? {}, keys.api_user ?? 'admin', opts.apiPassword ?? keys.api_password ?? 'admin');
    try {
      await d.launch(opts.readyTimeoutMs ?? 20_000);
    } catch (e) {
      await removeDir(dir); // the error message carries the log tail
      liveDirs.delete(dir);
      throw e;
    }
    return d;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  portal(): string {
    return `127.0.0.1:${this.iscsiPort}`;
  }

  /** The Prometheus exporter's port (prometheus_port of the cfg). */
  get metricsPort(): number {
    return Number(/^prometheus_port = (\d+)$/m.exec(readFileSync(this.cfgPath, 'utf8'))?.[1]);
  }

  /** GET /metrics of the daemon's exporter: the exposition text. */
  async scrape(): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
    return r.text();
  }

  /** libiscsi URL of LUN `lun` of `iqn`, with optional CHAP credentials. */
  url(iqn = TARGET_IQN, lun = 0, user?: string, password?: string): string {
    const cred = user !== undefined ? `${encodeURIComponent(user)}%${encodeURIComponent(password ?? '')}@` : '';
    return `iscsi://${cred}127.0.0.1:${this.iscsiPort}/${iqn}/${lun}`;
  }

  /** Where the daemon's stderr goes (stdout, the JSON log, goes to logPath). */
  get errPath(): string {
    return this.logPath.replace(/\.log$/, '.err');
  }

  /** Everything the daemon wrote so far, stdout (JSON lines) then stderr: for "never logged" checks. */
  log(): string {
    return this.stdoutLog() + (existsSync(this.errPath) ? readFileSync(this.errPath, 'utf8') : '');
  }

  /** The daemon's stdout so far: pino JSON lines, one per line. */
  stdoutLog(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  logTail(max = 4000): string {
    return `${tail(this.logPath, max)}\n--- stderr ---\n${tail(this.errPath, max)}`;
  }

  private async launch(readyTimeoutMs: number): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    const err = createWriteStream(this.errPath, { flags: 'a' });
    const child = spawn(process.execPath, [DAEMON_MAIN, '--config', this.cfgPath], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test', ...this.extraEnv },
    });
    this.child = child;
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(err, { end: false });
    this.exit = new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: -1, signal: null }));
    });
    let exited = false;
    const died = this.exit.then((x) => {
      exited = true;
      throw new Error(`daemon exited during start-up (code ${x.code}, signal ${x.signal})`);
    });
    died.catch(() => undefined); // observed below; no unhandled rejection once ready
    try {
      await Promise.race([
        died,
        waitFor(
          `gateway API on 127.0.0.1:${this.apiPort}`,
          async () => {
            if (exited) return false; // stop polling; `died` reports it
            const r = await this.api.request('GET', '/api/_ping', undefined, 2_000);
            return r.status === 200 ? true : undefined;
          },
          readyTimeoutMs,
          100,
        ),
      ]);
    } catch (e) {
      if (this.running) await this.stop('SIGKILL');
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`${msg}\n--- daemon log (${this.logPath}) ---\n${this.logTail()}`);
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; forced: boolean }> {
    const child = this.child;
    const exit = this.exit;
    if (!child || !exit) return { code: null, signal: null, forced: false };
    if (!this.running) return { ...(await exit), forced: false };
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([exit, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      child.kill('SIGKILL');
      return { ...(await exit), forced: true };
    }
    return { ...first, forced: false };
  }

  /** Starts the same daemon again (same cfg, ports and data dir). */
  async restart(readyTimeoutMs = 20_000): Promise<void> {
    if (this.running) throw new Error('daemon still running');
    await this.launch(readyTimeoutMs);
  }

  /** Stops (if needed) and removes the temp dir. */
  async dispose(): Promise<void> {
    await this.stop('SIGTERM', 10_000);
    await removeDir(this.dir);
    liveDirs.delete(this.dir);
  }
}

/** Defines target, this gateway as its portal, and `disk` of `size` mapped as LUN 0 (seeds flow steps 1-4). */
export async function defineTarget(api: RestClient, gatewayName: string, disk = 'rbd/disk_1', size = '1G'): Promise<void> {
  await api.must('PUT', `/api/target/${TARGET_IQN}`, {});
  await api.must('PUT', `/api/gateway/${TARGET_IQN}/${gatewayName}`, { ip_address: '127.0.0.1', skipchecks: 'true' });
  await api.must('PUT', `/api/disk/${disk}`, { mode: 'create', size, create_image: 'true' });
  await api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk });
}

/** Adds client `client` to the target ACL with `disk` mapped, optionally with one-way CHAP. */
export async function addClient(
  api: RestClient,
  client: string,
  disk = 'rbd/disk_1',
  chap?: { username: string; password: string },
): Promise<void> {
  await api.must('PUT', `/api/client/${TARGET_IQN}/${client}`, {});
  if (chap) {
    await api.must('PUT', `/api/clientauth/${TARGET_IQN}/${client}`, { username: chap.username, password: chap.password });
  }
  await api.must('PUT', `/api/clientlun/${TARGET_IQN}/${client}`, { disk });
}

// ---------------------------------------------------------------------------------------------
// tgt (reference peer target), via scripts/tgt-start.sh / tgt-stop.sh

export const TGT_IQN = 'iqn.2003-01.org.example:tgt-ref';

export interface Tgt {
  pid: number;
  port: number;
  ctl: number;
  dir: string;
  /** libiscsi URL of tgt's data LUN (LUN 1; LUN 0 is tgt's controller). */
  url: string;
  stop(): Promise<void>;
}

/** A control port (tgtd -C N: unix socket /var/run/tgtd/socket.N) that no other tgtd uses. */
function pickTgtControlPort(): number {
  for (let i = 0; i < 100; i++) {
    const n = 2000 + Math.floor(Math.random() * 30_000); // tgtd accepts -C 0..32767
    if (!existsSync(`/var/run/tgtd/socket.${n}`) && !existsSync(`/var/run/tgtd/socket.${n}.lock`)) return n;
  }
  throw new Error('no free tgtd control port');
}

export async function startTgt(opts: { size?: string; thin?: boolean } = {}): Promise<Tgt> {
  requireTools('tgtd', 'tgtadm');
  const dir = await tempDir('igw-tgt-');
  const port = await freePort();
  const ctl = pickTgtControlPort();
  const args = [join(ROOT, 'scripts', 'tgt-start.sh'), '-p', String(port), '-c', String(ctl), '-d', dir, '-s', opts.size ?? '1G', '-T', TGT_IQN];
  if (opts.thin) args.push('-t');
  const r = await run('bash', args, { timeoutMs: 60_000 });
  const pid = Number(r.stdout.trim().split('\n').pop());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) {
    const log = await readFile(join(dir, 'tgtd.log'), 'utf8').catch(() => '');
    await removeDir(dir);
    throw new Error(`tgt-start.sh failed (exit ${r.code}): ${r.output}\n${log}`);
  }
  liveTgts.set(pid, { ctl, dir });
  return {
    pid,
    port,
    ctl,
    dir,
    url: `iscsi://127.0.0.1:${port}/${TGT_IQN}/1`,
    async stop() {
      await run('bash', [join(ROOT, 'scripts', 'tgt-stop.sh'), String(pid), String(ctl)], { timeoutMs: 30_000 });
      liveTgts.delete(pid);
      await removeDir(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Conformance harness (scripts/conformance.mjs) results

export type CuResult = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR';
export interface CuRow {
  suite: string;
  test: string;
  result: CuResult;
  reason: string;
}

export function parseConformanceTsv(text: string): CuRow[] {
  const rows: CuRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (line.trim() === '') continue;
    const [suite = '', test = '', result = '', reason = ''] = line.split('\t');
    if (result !== 'PASSED' && result !== 'FAILED' && result !== 'SKIPPED' && result !== 'ERROR') {
      throw new Error(`bad conformance row: ${line}`);
    }
    rows.push({ suite, test, result, reason });
  }
  return rows;
}

/** Runs the conformance harness against `url` (and `url2` as the second path, default `url`) and returns its rows. */
export async function runConformance(url: string, outPrefix: string, extraArgs: string[] = [], url2 = url): Promise<{ rows: CuRow[]; summary: string; run: RunResult }> {
  await mkdir(dirname(outPrefix), { recursive: true });
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs'), '-o', outPrefix, ...extraArgs, url, url2], {
    timeoutMs: 45 * 60_000,
  });
  if (r.code !== 0) throw new Error(`conformance harness failed (exit ${r.code}): ${r.output.slice(-2000)}`);
  const rows = parseConformanceTsv(await readFile(`${outPrefix}.tsv`, 'utf8'));
  const summary = r.stdout.trim().split('\n').pop() ?? '';
  return { rows, summary, run: r };
}

export function countResults(rows: readonly CuRow[]): Record<CuResult, number> {
  const c: Record<CuResult, number> = { PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0 };
  for (const r of rows) c[r.result]++;
  return c;
}

/** `Suite.Test  # reason` lines; blank lines and whole-line comments ignored. */
export function readKnownFailures(text: string): Map<string, string> {
  const known = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const hash = line.indexOf('#');
    const name = (hash >= 0 ? line.slice(0, hash) : line).trim();
    const reason = hash >= 0 ? line.slice(hash + 1).trim() : '';
    if (!/^[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad line in known-failures file: ${raw}`);
    known.set(name, reason);
  }
  return known;
}

/** The two gateways of the HA tests: gw-a on 127.0.0.1, gw-b on 127.0.0.2 (same iSCSI port). */
export const GATEWAY_PAIR = [
  { name: 'gw-a', ip: '127.0.0.1' },
  { name: 'gw-b', ip: '127.0.0.2' },
] as const;

/**
 * Through `api`: the target, both GATEWAY_PAIR gateways as its portals (gw-a first, so it owns
 * the disk), `disk` of `size` as LUN 0, and every one of `clients` in the ACL with it mapped.
 */
export async function defineGatewayPair(api: RestClient, disk: string, size: string, clients: readonly string[]): Promise<void> {
  await api.must('PUT', `/api/target/${TARGET_IQN}`, {});
  for (const gw of GATEWAY_PAIR) await api.must('PUT', `/api/gateway/${TARGET_IQN}/${gw.name}`, { ip_address: gw.ip, skipchecks: 'true' });
  await api.must('PUT', `/api/disk/${disk}`, { mode: 'create', size, create_image: 'true' });
  await api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk });
  for (const c of clients) await addClient(api, c, disk);
}
