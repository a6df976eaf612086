/**
 * A real single-node Ceph for a test file: scripts/ceph-mini-start.sh in a temp dir (memstore,
 * no mgr unless asked), the CLI tools bound to its ceph.conf, and the daemon settings that
 * point a gateway at it. Missing Ceph packages fail the test with the install line; nothing
 * is skipped. The cluster is stopped with ceph-mini-stop.sh (by the pids it recorded), also
 * when the test process exits early.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, have, run, tempDir, type RunResult } from './helpers.js';

export const CEPH_PACKAGES = 'ceph-mon ceph-osd ceph-mgr ceph-common';
const START = join(ROOT, 'scripts', 'ceph-mini-start.sh');
const STOP = join(ROOT, 'scripts', 'ceph-mini-stop.sh');

const live = new Set<string>();
process.once('exit', () => {
  for (const dir of live) {
    spawnSync('bash', [STOP, join(dir, 'cluster')], { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Throws naming the Debian packages when the Ceph tools are missing. */
export function requireCeph(mgr = false): void {
  const tools = ['ceph', 'ceph-mon', 'ceph-osd', 'rados', 'rbd', 'ceph-authtool', 'monmaptool', ...(mgr ? ['ceph-mgr'] : [])];
  const missing = tools.filter((t) => !have(t));
  if (missing.length > 0) {
    throw new Error(
      `missing Ceph tools: ${missing.join(', ')} — install with: sudo bash .ci/run (apt-get install -y --no-install-recommends ${CEPH_PACKAGES})`,
    );
  }
}

export class CephCluster {
  private constructor(
    readonly dir: string,
    /** The cluster's directory (ceph.conf, keyring): the gateway's ceph_config_dir. */
    readonly confDir: string,
    readonly conf: string,
  ) {}

  /** Starts a fresh cluster with an initialised pool `rbd`. */
  static async start(opts: { mgr?: boolean; timeoutMs?: number } = {}): Promise<CephCluster> {
    requireCeph(opts.mgr === true);
    const dir = await tempDir('igw-ceph-');
    live.add(dir);
    const confDir = join(dir, 'cluster');
    const r = await run('bash', [START, confDir], {
      timeoutMs: opts.timeoutMs ?? 180_000,
      env: { ...process.env, CEPH_MINI_MGR: opts.mgr === true ? '1' : '0', CEPH_MINI_TIMEOUT: '150' },
    });
    if (r.code !== 0) {
      await run('bash', [STOP, confDir], { timeoutMs: 60_000 });
      rmSync(dir, { recursive: true, force: true });
      live.delete(dir);
      throw new Error(`ceph-mini-start.sh failed (code ${r.code}${r.timedOut ? ', timed out' : ''}):\n${r.output}`);
    }
    return new CephCluster(dir, confDir, r.stdout.trim());
  }

  /** `[config]` keys of a gateway using this cluster. */
  settings(extra: Record<string, string> = {}): Record<string, string> {
    return { backstore: 'rbd', ceph_config_dir: this.confDir, cluster_name: 'ceph', cluster_client_name: 'client.admin', pool: 'rbd', ...extra };
  }

  rbd(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('rbd', ['--conf', this.conf, ...args], { timeoutMs });
  }

  rados(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('rados', ['--conf', this.conf, ...args], { timeoutMs });
  }

  ceph(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('ceph', ['--conf', this.conf, '--connect-timeout', '20', ...args], { timeoutMs });
  }

  /** Runs a tool and throws with its output unless it exits 0. */
  async must(tool: 'rbd' | 'rados' | 'ceph', args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this[tool](args, timeoutMs);
    if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} failed (code ${r.code}):\n${r.output}`);
    return r.stdout;
  }

  async stop(): Promise<void> {
    await run('bash', [STOP, this.confDir], { timeoutMs: 90_000 });
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this.dir);
  }
}
