/**
 * The configuration document as a JSON file (`<data_dir>/gateway.conf`): the
 * embedded default of ConfigStore. Same protocol as ceph-iscsi's RADOS object
 * (common.py `Config.lock/_commit_rbd`): exclusive lock (retried for up to
 * 30 s, `lock_time_limit`), re-read under the lock, mutate, epoch+1, stamp
 * `updated`, write the whole document as sorted 4-space JSON — here through a
 * temp file + fsync + rename + directory fsync, so a crash leaves either the
 * old or the new document, never a torn one.
 *
 * The document is read and parsed only when it changed: the file's inode, size and
 * times are the version (WatchedConfigStore.current), and a write keeps what it wrote.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { properLockfile } from '../util/lockfile.js';
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { formatConfig } from './format.js';
import { seedConfig, type GatewayConfig } from './schema.js';
import { freezeDeep } from './snapshot.js';
import type { ConfigStore } from './store.js';
import { migrateConfig } from './migrate.js';
import { WatchedConfigStore, type CurrentDoc } from './store-watchers.js';


export { formatConfig };

export interface FileConfigStoreOptions {
  /** The document: normally `<data_dir>/gateway.conf`. Its directory is created when missing. */
  path: string;
  /** watch() poll fallback interval (default 1000 ms, upstream's ConfigWatcher period). */
  pollIntervalMs?: number;
  /** How long update() waits for the cross-process lock (default 30 000 ms, upstream lock_time_limit). */
  lockTimeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over (default 10 000 ms). */
  lockStaleMs?: number;
  logger?: Logger;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class FileConfigStore extends WatchedConfigStore implements ConfigStore {
  readonly path: string;
  /**
   * proper-lockfile's lock directory: hidden (`.gateway.conf.lock`), because data_dir is
   * also the root of the file backstore's pools and a visible directory would list as a pool.
   */
  readonly lockPath: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly pollIntervalMs: number;
  private readonly lockTimeoutMs: number;
  private readonly lockStaleMs: number;
  private fsWatcher: fs.FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(opts: FileConfigStoreOptions) {
    super(opts.logger);
    this.path = path.resolve(opts.path);
    this.dir = path.dirname(this.path);
    this.base = path.basename(this.path);
    this.lockPath = path.join(this.dir, `.${this.base}.lock`);
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
    this.lockStaleMs = Math.max(opts.lockStaleMs ?? 10_000, 2000);
  }

  protected get where(): string {
    return this.path;
  }

  /** A fresh read of the document; seeds it (exclusively) when absent or empty. */
  async load(): Promise<GatewayConfig> {
    this.assertOpen();
    const got = await this.readDoc();
    if (got === undefined) {
      // Seed under the lock so two gateways starting at once agree on one document.
      const { doc } = await this.locked(async () => {
        const again = await this.readDoc();
        if (again !== undefined) return { doc: again.doc };
        const seed = seedConfig();
        await this.writeExclusive(seed);
        return { doc: seed };
      });
      return doc;
    }
    if (got.changed) {
      // Persist the upgrade (ceph-iscsi commits it at start-up too) so every reader sees v11.
      const { doc } = await this.update(() => undefined);
      return structuredClone(doc);
    }
    return got.doc;
  }

  async update<T>(mutator: (doc: GatewayConfig) => T | Promise<T>): Promise<{ doc: GatewayConfig; result: T }> {
    this.assertOpen();
    const run = (): Promise<{ doc: GatewayConfig; result: T }> =>
      this.locked(async () => {
        let base: CurrentDoc | undefined = await this.current();
        if (base === undefined) {
          // First writer ever: the seed (epoch 0) goes in first, exclusively, as in load().
          const seed = freezeDeep(seedConfig());
          this.remember(seed, await this.writeExclusive(seed));
          base = { doc: seed, changed: false };
        }
        const { next, result } = await this.edit(base, mutator);
        // No change: nothing written (a migrated document is still written back).
        if (next === undefined) return { doc: base.doc, result };
        try {
          this.remember(next, await this.writeAtomic(next));
        } catch (err) {
          this.forget();
          throw err;
        }
        this.watchers.deliver(next);
        return { doc: next, result };
      });
    return this.queue.run(run);
  }

  /** The file's version: inode, size, modification and change times (ns). */
  protected async probe(): Promise<string | undefined> {
    try {
      return this.versionOf(await fsp.stat(this.path, { bigint: true }));
    } catch {
      return undefined;
    }
  }

  private versionOf(st: fs.BigIntStats): string {
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  // -------------------------------------------------------------------------

  /** Reads + parses + migrates; undefined when the file is absent or empty (never written). */
  protected async readDoc(): Promise<{ doc: GatewayConfig; changed: boolean } | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GatewayError('ERR_CONFIG_IO', `cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (text.trim() === '') return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      // Never replace a corrupt document silently: keep a copy for the operator and stop.
      const bad = `${this.path}.bad`;
      let kept = '';
      try {
        await fsp.copyFile(this.path, bad);
        kept = ` (a copy is in ${bad})`;
      } catch {
        // the error below still names the file
      }
      throw new GatewayError(
        'ERR_CONFIG_CORRUPT',
        `${this.path} is not valid JSON: ${(err as Error).message}${kept}; fix or remove it to start again`,
        { cause: err },
      );
    }
    const { doc, changed } = migrateConfig(raw, this.path);
    return { doc, changed };
  }

  /** Runs `fn` under the cross-process lock (proper-lockfile, lockPath), retrying until lockTimeoutMs. */
  private async locked<R>(fn: () => Promise<R>): Promise<R> {
    await fsp.mkdir(this.dir, { recursive: true });
    const deadline = Date.now() + this.lockTimeoutMs;
    let release: (() => Promise<void>) | undefined;
    let delay = 5;
    let compromised: Error | undefined;
    for (;;) {
      try {
        release = await (await properLockfile()).lock(this.path, {
          realpath: false,
          lockfilePath: this.lockPath,
          stale: this.lockStaleMs,
          retries: 0,
          onCompromised: (err: Error) => {
            // Default is to throw from a timer (crashing the process); we log and carry on.
            compromised = err;
            this.log?.error({ err, path: this.path }, 'config lock compromised');
          },
        });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
          throw new GatewayError('ERR_CONFIG_IO', `cannot lock ${this.path}: ${(err as Error).message}`, { cause: err });
        }
        if (Date.now() >= deadline) {
          throw new GatewayError(
            'ERR_CONFIG_LOCK_TIMEOUT',
            `timed out after ${this.lockTimeoutMs} ms waiting for the lock on ${this.path}`,
            { cause: err },
          );
        }
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 100);
      }
    }
    try {
      return await fn();
    } finally {
      try {
        await release();
      } catch (err) {
        if (compromised === undefined) this.log?.warn({ err, path: this.path }, 'config unlock failed');
      }
    }
  }

  private tempPath(): string {
    return path.join(this.dir, `.${this.base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  private async writeTemp(doc: GatewayConfig): Promise<string> {
    const tmp = this.tempPath();
    const fh = await fsp.open(tmp, 'wx', 0o600);
    try {
      // One vectored write of the kept pieces (the kernel copies them; libuv writes them all).
      const pieces = this.formatPieces(doc);
      const { bytesWritten } = await fh.writev(pieces);
      const want = pieces.reduce((n, b) => n + b.length, 0);
      if (bytesWritten !== want) throw new Error(`short write: ${bytesWritten} of ${want} bytes`);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
      throw new GatewayError('ERR_CONFIG_IO', `cannot write ${tmp}: ${(err as Error).message}`, { cause: err });
    }
    await fh.close();
    return tmp;
  }

  private async syncDir(): Promise<void> {
    try {
      const dh = await fsp.open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      // some filesystems refuse fsync on directories; the rename is still atomic
    }
  }

  /**
   * temp file + fsync + rename + dir fsync. Returns the version written (stat under the lock:
   * no other writer can have replaced the file since).
   */
  private async writeAtomic(doc: GatewayConfig): Promise<string> {
    const tmp = await this.writeTemp(doc);
    try {
      await fsp.rename(tmp, this.path);
    } catch (err) {
      await fsp.unlink(tmp).catch(() => undefined);
      throw new GatewayError('ERR_CONFIG_IO', `cannot replace ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    await this.syncDir();
    return this.versionOf(await fsp.stat(this.path, { bigint: true }));
  }

  /**
   * Seeds the document: link(2) of a complete temp file fails when the path exists (O_EXCL
   * semantics). Returns the version written.
   */
  private async writeExclusive(doc: GatewayConfig): Promise<string> {
    const tmp = await this.writeTemp(doc);
    try {
      await fsp.link(tmp, this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        // An empty file left by someone else: replace it (it has no content to lose).
        const st = await fsp.stat(this.path);
        if (st.size === 0) {
          await fsp.rename(tmp, this.path);
          await this.syncDir();
          return this.versionOf(await fsp.stat(this.path, { bigint: true }));
        }
      }
      throw new GatewayError('ERR_CONFIG_IO', `cannot create ${this.path}: ${(err as Error).message}`, { cause: err });
    } finally {
      await fsp.unlink(tmp).catch(() => undefined);
    }
    await this.syncDir();
    return this.versionOf(await fsp.stat(this.path, { bigint: true }));
  }

  // ------------------------------------------------------------------ watch

  protected startWatching(): void {
    if (this.pollTimer !== undefined) return;
    try {
      this.fsWatcher = fs.watch(this.dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === this.base || String(filename).startsWith(`.${this.base}.tmp-`)) {
          this.checker.trigger();
        }
      });
      this.fsWatcher.on('error', () => {
        // directory removed or watcher limit reached: the poll below still works
        this.fsWatcher?.close();
        this.fsWatcher = undefined;
      });
    } catch {
      this.fsWatcher = undefined;
    }
    this.pollTimer = setInterval(() => this.checker.trigger(true), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  protected stopWatching(): void {
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  protected async check(): Promise<void> {
    if (this.watchers.size === 0) return;
    try {
      // The probe (a stat) says whether the file changed; only then is it read.
      const got = await this.current();
      if (got === undefined) return;
      this.watchers.deliver(got.doc);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log?.warn({ err: (err as Error).message }, 'config watch read failed');
      }
    }
  }
}
