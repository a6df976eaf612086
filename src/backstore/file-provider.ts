/**
 * Pools and images on a local filesystem: a pool is a directory
 * `<data_dir>/<pool>`, an image a sparse file `<data_dir>/<pool>/<image>`,
 * a snapshot a reflinked (or sparse) copy `<data_dir>/<pool>/.snap/<image>@<name>`.
 * Pool names starting with '.' are reserved for our own state (`.pr`, ...); the
 * image name `.snap` is reserved for the snapshot directory.
 */
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { BackstoreError, type BackingStore, type BackstoreProvider, type ClusterInfo, type PoolStats } from './backstore.js';
import { FileBackingStore } from './file.js';

export interface FileBackstoreProviderOptions {
  /** Root directory of the pools (settings.data_dir). Created when missing. */
  dataDir: string;
  /** Created on init (default "rbd", the upstream default pool). */
  defaultPool?: string;
}

// Same rule as ceph-iscsi valid_disk (config/validate.ts) — repeated here because backstore
// must not import config; plus: no leading '.', which is reserved for our own directories.
const NAME_RE = /^[a-zA-Z0-9\-_.]+$/;
const SNAP_DIR = '.snap';

function checkName(kind: 'pool' | 'image', name: string): void {
  // Pools: a leading '.' is reserved (data_dir also holds our own state: .pr, ...).
  // Images: upstream allows ".foo"; only the names that would clash with the filesystem
  // or our snapshot directory are refused.
  const reserved = kind === 'pool' ? name.startsWith('.') : name === '.' || name === '..' || name === SNAP_DIR;
  if (typeof name !== 'string' || !NAME_RE.test(name) || reserved || name.length > 255) {
    throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid ${kind} name "${String(name)}"`);
  }
}

function checkSnapName(name: string): void {
  // gwcli valid_snapshot_name: ^[^/@]+$ ; and never a path component trick or NUL.
  if (typeof name !== 'string' || !/^[^/@\0]+$/.test(name) || name === '.' || name === '..' || name.length > 200) {
    throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid snapshot name "${String(name)}"`);
  }
}

function io(what: string, err: unknown): BackstoreError {
  const e = err as NodeJS.ErrnoException;
  return new BackstoreError('ERR_BACKSTORE_IO', `${what}: ${e.code ?? e.message}`, 'other', { cause: err });
}

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** cp(1) with reflinks where the filesystem has them, keeping holes; in place when dst exists. */
function copySparse(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('cp', ['--reflink=auto', '--sparse=always', '--', src, dst], (err, _stdout, stderr) => {
      if (err) reject(new BackstoreError('ERR_BACKSTORE_IO', `copy ${src} to ${dst} failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

export class FileBackstoreProvider implements BackstoreProvider {
  readonly kind = 'file';
  readonly dataDir: string;
  readonly defaultPool: string;
  private initPromise: Promise<void> | undefined;

  constructor(opts: FileBackstoreProviderOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.defaultPool = opts.defaultPool ?? 'rbd';
    checkName('pool', this.defaultPool);
  }

  /** Creates data_dir and the default pool. Called by every method; call it early to fail fast. */
  init(): Promise<void> {
    this.initPromise ??= (async () => {
      try {
        await fsp.mkdir(path.join(this.dataDir, this.defaultPool), { recursive: true });
      } catch (err) {
        this.initPromise = undefined;
        throw io(`cannot create ${path.join(this.dataDir, this.defaultPool)}`, err);
      }
    })();
    return this.initPromise;
  }

  private poolDir(pool: string): string {
    checkName('pool', pool);
    return path.join(this.dataDir, pool);
  }

  private imagePath(pool: string, image: string): string {
    checkName('image', image);
    return path.join(this.poolDir(pool), image);
  }

  private async requirePool(pool: string): Promise<string> {
    const dir = this.poolDir(pool);
    await this.init();
    if (!(await this.poolExists(pool))) {
      throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `pool ${pool} does not exist`);
    }
    return dir;
  }

  async listPools(): Promise<string[]> {
    await this.init();
    const entries = await fsp.readdir(this.dataDir, { withFileTypes: true }).catch((err: unknown) => {
      throw io(`cannot list ${this.dataDir}`, err);
    });
    return entries
      .filter((e) => e.isDirectory() && NAME_RE.test(e.name) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  async poolExists(pool: string): Promise<boolean> {
    if (typeof pool !== 'string' || !NAME_RE.test(pool) || pool.startsWith('.')) return false;
    await this.init();
    try {
      return (await fsp.stat(path.join(this.dataDir, pool))).isDirectory();
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return false;
      throw io(`cannot stat pool ${pool}`, err);
    }
  }

  async createPool(pool: string): Promise<void> {
    const dir = this.poolDir(pool);
    await this.init();
    try {
      await fsp.mkdir(dir);
    } catch (err) {
      if (isCode(err, 'EEXIST')) throw new BackstoreError('ERR_BACKSTORE_EXISTS', `pool ${pool} already exists`);
      throw io(`cannot create pool ${pool}`, err);
    }
  }

  async poolStats(pool: string): Promise<PoolStats> {
    const dir = await this.requirePool(pool);
    let capacityBytes = 0;
    try {
      const sf = await fsp.statfs(dir);
      capacityBytes = sf.blocks * sf.bsize;
    } catch (err) {
      throw io(`cannot statfs ${dir}`, err);
    }
    let usedBytes = 0;
    let committedBytes = 0;
    for (const image of await this.listImages(pool)) {
      try {
        const st = await fsp.stat(path.join(dir, image));
        // st_blocks counts 512-byte units actually allocated (holes excluded).
        usedBytes += st.blocks * 512;
        committedBytes += st.size;
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw io(`cannot stat ${pool}/${image}`, err);
      }
    }
    return { name: pool, committedBytes, usedBytes, capacityBytes, replicas: 1 };
  }

  /**
   * Health from the free space of the filesystems the pools live on (Ceph's nearfull and
   * full ratios: WARN under 15% free, ERR under 5%); topology: how many filesystems.
   */
  async clusterInfo(): Promise<ClusterInfo> {
    await this.init();
    const dirs = [this.dataDir, ...(await this.listPools()).map((p) => path.join(this.dataDir, p))];
    const seen = new Map<number, { dir: string; free: number }>();
    for (const dir of dirs) {
      try {
        const [st, sf] = await Promise.all([fsp.stat(dir), fsp.statfs(dir)]);
        if (!seen.has(st.dev)) seen.set(st.dev, { dir, free: sf.blocks > 0 ? sf.bavail / sf.blocks : 0 });
      } catch (err) {
        throw io(`cannot statfs ${dir}`, err);
      }
    }
    const checks: string[] = [];
    let health = 'HEALTH_OK';
    for (const { dir, free } of seen.values()) {
      const pct = `${(free * 100).toFixed(1)}% free`;
      if (free < 0.05) {
        health = 'HEALTH_ERR';
        checks.push(`filesystem of ${dir} is full (${pct})`);
      } else if (free < 0.15) {
        if (health === 'HEALTH_OK') health = 'HEALTH_WARN';
        checks.push(`filesystem of ${dir} is nearly full (${pct})`);
      }
    }
    return { health, checks, topology: { Filesystems: seen.size } };
  }

  async listImages(pool: string): Promise<string[]> {
    const dir = await this.requirePool(pool);
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
      throw io(`cannot list pool ${pool}`, err);
    });
    return entries
      .filter((e) => e.isFile() && NAME_RE.test(e.name))
      .map((e) => e.name)
      .sort();
  }

  async imageSize(pool: string, image: string): Promise<number | undefined> {
    let p: string;
    try {
      p = this.imagePath(pool, image);
    } catch {
      return undefined; // a name that cannot exist here
    }
    await this.init();
    try {
      const st = await fsp.stat(p);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return undefined;
      throw io(`cannot stat ${pool}/${image}`, err);
    }
  }

  async createImage(pool: string, image: string, sizeBytes: number): Promise<void> {
    const p = this.imagePath(pool, image);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid image size ${sizeBytes}`);
    }
    await this.requirePool(pool);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(p, 'wx', 0o600);
    } catch (err) {
      if (isCode(err, 'EEXIST')) throw new BackstoreError('ERR_BACKSTORE_EXISTS', `image ${pool}/${image} already exists`);
      throw io(`cannot create ${pool}/${image}`, err);
    }
    try {
      // Sparse: ftruncate allocates nothing; blocks appear as they are written.
      await fh.truncate(sizeBytes);
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.unlink(p).catch(() => undefined);
      throw io(`cannot size ${pool}/${image}`, err);
    }
  }

  async resizeImage(pool: string, image: string, sizeBytes: number): Promise<void> {
    const p = this.imagePath(pool, image);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid image size ${sizeBytes}`);
    }
    await this.init();
    if ((await this.imageSize(pool, image)) === undefined) {
      throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `image ${pool}/${image} does not exist`);
    }
    try {
      await fsp.truncate(p, sizeBytes);
    } catch (err) {
      throw io(`cannot resize ${pool}/${image}`, err);
    }
  }

  async removeImage(pool: string, image: string): Promise<void> {
    const p = this.imagePath(pool, image);
    await this.init();
    try {
      await fsp.unlink(p);
    } catch (err) {
      if (isCode(err, 'ENOENT')) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `image ${pool}/${image} does not exist`);
      throw io(`cannot remove ${pool}/${image}`, err);
    }
    // Its snapshots go with it (they are plain files next to it).
    for (const snap of await this.snapList(pool, image).catch(() => [])) {
      await fsp.unlink(this.snapPath(pool, image, snap)).catch(() => undefined);
    }
  }

  async open(pool: string, image: string): Promise<BackingStore> {
    const p = this.imagePath(pool, image);
    await this.init();
    return FileBackingStore.open(p, { name: `${pool}/${image}` });
  }

  // -------------------------------------------------------------- snapshots

  private snapPath(pool: string, image: string, name: string): string {
    checkSnapName(name);
    return path.join(this.poolDir(pool), SNAP_DIR, `${image}@${name}`);
  }

  private async snapList(pool: string, image: string): Promise<string[]> {
    checkName('image', image);
    const dir = path.join(await this.requirePool(pool), SNAP_DIR);
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return [];
      throw io(`cannot list snapshots of ${pool}/${image}`, err);
    }
    const prefix = `${image}@`;
    return names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)).sort();
  }

  private async requireImage(pool: string, image: string): Promise<string> {
    const p = this.imagePath(pool, image);
    if ((await this.imageSize(pool, image)) === undefined) {
      throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `image ${pool}/${image} does not exist`);
    }
    return p;
  }

  private async snapExists(p: string): Promise<boolean> {
    try {
      await fsp.access(p);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Snapshots as copies: reflinks (instant, shared blocks) on btrfs/xfs, sparse copies
   * elsewhere. Crash-consistent only: the caller flushes the LU first.
   */
  readonly snapshot = {
    list: (pool: string, image: string): Promise<string[]> => this.requireImage(pool, image).then(() => this.snapList(pool, image)),
    create: async (pool: string, image: string, name: string): Promise<void> => {
      const src = await this.requireImage(pool, image);
      const dst = this.snapPath(pool, image, name);
      if (await this.snapExists(dst)) {
        throw new BackstoreError('ERR_BACKSTORE_EXISTS', `snapshot ${pool}/${image}@${name} already exists`);
      }
      // Copy to a temp file in .snap/.tmp, then rename: a half-made copy never shows up as a snapshot.
      const tmpDir = path.join(path.dirname(dst), '.tmp');
      await fsp.mkdir(tmpDir, { recursive: true });
      const tmp = path.join(tmpDir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      try {
        await copySparse(src, tmp);
        await fsp.rename(tmp, dst);
      } catch (err) {
        await fsp.unlink(tmp).catch(() => undefined);
        throw err instanceof BackstoreError ? err : io(`cannot snapshot ${pool}/${image}`, err);
      }
    },
    remove: async (pool: string, image: string, name: string): Promise<void> => {
      const p = this.snapPath(pool, image, name);
      try {
        await fsp.unlink(p);
      } catch (err) {
        if (isCode(err, 'ENOENT')) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `snapshot ${pool}/${image}@${name} does not exist`);
        throw io(`cannot remove snapshot ${pool}/${image}@${name}`, err);
      }
    },
    rollback: async (pool: string, image: string, name: string): Promise<void> => {
      const dst = await this.requireImage(pool, image);
      const src = this.snapPath(pool, image, name);
      if (!(await this.snapExists(src))) {
        throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `snapshot ${pool}/${image}@${name} does not exist`);
      }
      // In place (cp truncates and rewrites the same inode), so stores already open on the
      // image see the rolled-back data; upstream deactivates the LUN around a rollback.
      await copySparse(src, dst);
    },
  };

  async close(): Promise<void> {
    // Nothing held: each BackingStore owns its file handle.
  }
}
