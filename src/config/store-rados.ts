/**
 * The configuration document as the RADOS object `<pool>/<gateway_conf>` (config_store =
 * rados), with ceph-iscsi's protocol (common.py Config.init_config/_commit_rbd), so that our
 * gateways and upstream rbd-target-api gateways can share one cluster's configuration:
 *
 * - the object is created exclusively (LIBRADOS_CREATE_EXCLUSIVE) when missing and seeded
 *   under the lock when empty;
 * - writers take the RADOS exclusive advisory lock named `lock` with cookie `config`
 *   (retried for up to 30 s, upstream's lock_time_limit), re-read the object under it, mutate,
 *   epoch + 1, stamp `updated`, write_full the sorted 4-space JSON, mirror the epoch in the
 *   `epoch` xattr, unlock; keys this code does not know are kept as read;
 * - readers learn of changes at once through watch/notify on the object (the writer notifies
 *   after unlocking, through the threadpool: a process that watches an object must never
 *   notify it synchronously), and poll the `epoch` xattr every second as upstream's
 *   ConfigWatcher does, which also covers upstream writers (they do not notify) and missed
 *   notifies.
 *
 * Readers (snapshot(), the watch) read and parse the document only when the epoch xattr moved
 * (the version WatchedConfigStore.current keeps), as upstream's ConfigWatcher does. update()
 * reads it under the lock every time: an object replaced without its xattr (`rados put` by
 * hand, a writer that died between write_full and the xattr) is still what the change builds
 * on. The read shares every unchanged part with the kept document, so the rest of a change
 * (formatting, the gateways' reconcile) still costs what the change touched.
 *
 * The lock has a 30 s duration, so the lock of a gateway that died mid-update expires.
 * The librados calls come in through `RadosObjects` (backstore/rbd/rados.ts RadosCluster
 * implements it; main.ts passes it in): config does not import the backstore layer.
 */
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { migrateConfig } from './migrate.js';
import { seedConfig, type GatewayConfig } from './schema.js';
import { freezeDeep } from './snapshot.js';
import type { ConfigStore } from './store.js';
import { WatchedConfigStore, type CurrentDoc } from './store-watchers.js';

/** The librados object operations the store needs. */
export interface RadosObjects {
  readFull(pool: string, oid: string): Promise<Buffer | undefined>;
  /** write_full and setxattr in one operation (one round trip, and atomic). */
  writeFullWithXattr(pool: string, oid: string, data: Buffer, name: string, value: string): Promise<void>;
  /** Creates an empty object unless it exists; false when it existed. */
  createExclusive(pool: string, oid: string): Promise<boolean>;
  getXattr(pool: string, oid: string, name: string): Promise<string | undefined>;
  /** false while another client holds the lock. */
  tryLockExclusive(pool: string, oid: string, name: string, cookie: string, durationSec: number): Promise<boolean>;
  unlock(pool: string, oid: string, name: string, cookie: string): Promise<void>;
  watch(pool: string, oid: string, onNotify: (payload: Buffer) => void, onError: (rc: number) => void): Promise<{ close(): Promise<void> }>;
  notify(pool: string, oid: string, payload: Buffer, timeoutMs: number): Promise<number>;
}

export interface RadosConfigStoreOptions {
  rados: RadosObjects;
  /** settings.pool (default "rbd"). */
  pool?: string;
  /** settings.gateway_conf (default "gateway.conf"). */
  object?: string;
  /** Epoch poll interval (default 1000 ms, upstream ConfigWatcher). */
  pollIntervalMs?: number;
  /** How long update() waits for the lock (default 30 000 ms, upstream lock_time_limit). */
  lockTimeoutMs?: number;
  logger?: Logger;
}

/** ceph-iscsi's lock name and cookie (common.py Config.lock). */
export const LOCK_NAME = 'lock';
export const LOCK_COOKIE = 'config';
/** Lock duration: a holder that died releases it after this. */
const LOCK_DURATION_SEC = 30;
const NOTIFY_TIMEOUT_MS = 5000;
const REWATCH_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class RadosConfigStore extends WatchedConfigStore implements ConfigStore {
  readonly pool: string;
  readonly object: string;
  private readonly rados: RadosObjects;
  private readonly pollIntervalMs: number;
  private readonly lockTimeoutMs: number;
  private watchHandle: { close(): Promise<void> } | undefined;
  private watchStarting = false;
  /** The object exists (created or found by this store). */
  private created = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;

  constructor(opts: RadosConfigStoreOptions) {
    super(opts.logger);
    this.rados = opts.rados;
    this.pool = opts.pool ?? 'rbd';
    this.object = opts.object ?? 'gateway.conf';
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
  }

  protected get where(): string {
    return `rados object ${this.pool}/${this.object}`;
  }

  async load(): Promise<GatewayConfig> {
    this.assertOpen();
    const got = await this.readDoc();
    if (got === undefined || got.changed) {
      // Missing/empty: seeded under the lock (update() does it). Migrated: written back as v11.
      const { doc } = await this.update(() => (got === undefined ? false : undefined));
      return structuredClone(doc);
    }
    return got.doc;
  }

  update<T>(mutator: (doc: GatewayConfig) => T | Promise<T>): Promise<{ doc: GatewayConfig; result: T }> {
    this.assertOpen();
    const run = async (): Promise<{ doc: GatewayConfig; result: T }> => {
      const out = await this.locked(async () => {
        let base: CurrentDoc | undefined = await this.current(true);
        const seeded = base === undefined;
        base ??= { doc: freezeDeep(seedConfig()), changed: false };
        const { next, result } = await this.edit(base, mutator, seeded);
        if (next === undefined) return { doc: base.doc, result, wrote: false };
        try {
          const data = this.format(next);
          // One round trip, and a reader never sees the new document under the old epoch.
          await this.rados.writeFullWithXattr(this.pool, this.object, data, 'epoch', String(next.epoch));
        } catch (err) {
          this.forget();
          throw err;
        }
        this.remember(next, String(next.epoch));
        return { doc: next, result, wrote: true };
      });
      if (out.wrote) {
        this.watchers.deliver(out.doc);
        this.notifyOthers(out.doc.epoch);
      }
      return { doc: out.doc, result: out.result };
    };
    return this.queue.run(run);
  }

  /** The epoch xattr (upstream writers set it too, after write_full, under the lock). */
  protected async probe(): Promise<string | undefined> {
    try {
      return await this.rados.getXattr(this.pool, this.object, 'epoch');
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------

  protected async readDoc(): Promise<{ doc: GatewayConfig; changed: boolean } | undefined> {
    let data: Buffer | undefined;
    try {
      data = await this.rados.readFull(this.pool, this.object);
    } catch (err) {
      throw new GatewayError('ERR_CONFIG_IO', `cannot read ${this.where}: ${(err as Error).message}`, { cause: err });
    }
    if (data === undefined) return undefined;
    const text = data.toString('utf8');
    if (text.trim() === '') return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new GatewayError(
        'ERR_CONFIG_CORRUPT',
        `${this.where} is not valid JSON: ${(err as Error).message}; fix it (rados -p ${this.pool} get ${this.object} -) or remove it to start again`,
        { cause: err },
      );
    }
    return migrateConfig(raw, this.where);
  }

  private async locked<R>(fn: () => Promise<R>): Promise<R> {
    // Once seen, the object is not created again before each lock (a round trip per change);
    // were it removed meanwhile, the lock (a class write) and write_full create it anyway.
    if (!this.created) {
      try {
        await this.rados.createExclusive(this.pool, this.object);
      } catch (err) {
        throw new GatewayError('ERR_CONFIG_IO', `cannot create ${this.where}: ${(err as Error).message}`, { cause: err });
      }
      this.created = true;
    }
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = 10;
    for (;;) {
      let got: boolean;
      try {
        got = await this.rados.tryLockExclusive(this.pool, this.object, LOCK_NAME, LOCK_COOKIE, LOCK_DURATION_SEC);
      } catch (err) {
        throw new GatewayError('ERR_CONFIG_IO', `cannot lock ${this.where}: ${(err as Error).message}`, { cause: err });
      }
      if (got) break;
      if (Date.now() >= deadline) {
        throw new GatewayError('ERR_CONFIG_LOCK_TIMEOUT', `timed out after ${this.lockTimeoutMs} ms waiting for the lock on ${this.where}`);
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 250);
    }
    try {
      return await fn();
    } finally {
      await this.rados.unlock(this.pool, this.object, LOCK_NAME, LOCK_COOKIE).catch((err: unknown) => {
        this.log?.warn({ err: (err as Error).message }, 'config unlock failed (the lock expires by itself)');
      });
    }
  }

  // ------------------------------------------------------------------ watch

  private notifyOthers(epoch: number): void {
    // Not awaited: a dead watcher can hold a notify until its timeout; the poll covers it anyway.
    this.rados.notify(this.pool, this.object, Buffer.from(JSON.stringify({ epoch }), 'utf8'), NOTIFY_TIMEOUT_MS).then(
      (rc) => {
        if (rc < 0) this.log?.debug({ rc }, 'config notify incomplete (some watcher did not answer)');
      },
      (err: unknown) => this.log?.debug({ err: (err as Error).message }, 'config notify failed'),
    );
  }

  protected startWatching(): void {
    if (this.pollTimer === undefined) {
      this.pollTimer = setInterval(() => this.checker.trigger(true), this.pollIntervalMs);
      this.pollTimer.unref();
    }
    void this.startRadosWatch();
  }

  private async startRadosWatch(): Promise<void> {
    if (this.watchHandle !== undefined || this.watchStarting || this.closed || this.watchers.size === 0) return;
    this.watchStarting = true;
    try {
      await this.rados.createExclusive(this.pool, this.object).catch(() => false);
      const h = await this.rados.watch(
        this.pool,
        this.object,
        () => this.checker.trigger(),
        (rc) => {
          // Broken watch (blocklisted, OSD gone): drop it, re-check now, re-watch shortly.
          this.log?.warn({ rc }, 'config watch lost; re-watching');
          const old = this.watchHandle;
          this.watchHandle = undefined;
          void old?.close();
          this.checker.trigger();
          this.scheduleRewatch();
        },
      );
      if (this.closed || this.watchers.size === 0) await h.close();
      else this.watchHandle = h;
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'cannot watch the config object; polling only for now');
      this.scheduleRewatch();
    } finally {
      this.watchStarting = false;
    }
  }

  private scheduleRewatch(): void {
    if (this.rewatchTimer !== undefined || this.closed) return;
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      void this.startRadosWatch();
    }, REWATCH_MS);
    this.rewatchTimer.unref();
  }

  protected stopWatching(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    if (this.rewatchTimer !== undefined) clearTimeout(this.rewatchTimer);
    this.rewatchTimer = undefined;
    const h = this.watchHandle;
    this.watchHandle = undefined;
    void h?.close();
  }

  protected async check(): Promise<void> {
    if (this.watchers.size === 0 || this.closed) return;
    try {
      // The cheap probe first (upstream's ConfigWatcher reads the same xattr); read when it moved.
      const got = await this.current();
      if (got === undefined) return;
      this.watchers.deliver(got.doc);
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'config watch read failed');
    }
  }
}
