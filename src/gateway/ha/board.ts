/**
 * The membership board of a gateway group: one small record per gateway, written only by
 * that gateway, read by all. It lives next to the group's config document: files in
 * `<data_dir>/.state/ha/` for the file config store, RADOS objects `<gateway_conf>.ha.<name>`
 * in the config pool for the RADOS store (plus watch/notify on `<gateway_conf>.ha` so a
 * change reaches the peers in milliseconds; the readers poll as well).
 *
 * A record is a heartbeat (its `seq` moves at every renewal) and the gateway's claims: the
 * disks whose exclusive lock it holds and the disks it asks a peer to hand over.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RadosCluster, WatchHandle } from '../../backstore/rbd/rados.js';
import type { ResetReason } from '../../scsi/logical-unit.js';
import type { ProcessIdentity } from './fence.js';

/** A LOGICAL UNIT RESET / TARGET RESET done through one gateway (resets.ts). */
export interface ResetEvent {
  /** Per sender incarnation, from 1. */
  seq: number;
  disk: string;
  reason: ResetReason;
}

/** The last reset event of a sender applied by the record's gateway. */
export interface SeenMark {
  incarnation: string;
  seq: number;
}

export interface MemberRecord {
  gateway: string;
  /** Random per process start: a restarted gateway is a new incarnation, whatever its seq. */
  incarnation: string;
  /** Moves at every renewal. */
  seq: number;
  /** up; leaving (planned stop: hand everything over, take nothing); gone (stopped cleanly). */
  state: 'up' | 'leaving' | 'gone';
  /** The data-path client address, as the image lock names its owner (Ceph only). */
  dataAddress?: string;
  /** The gateway's process (file default): a peer on the same host can fence it (fence.ts). */
  process?: ProcessIdentity;
  /** Disk ids whose exclusive lock this gateway holds. */
  holds: string[];
  /** Of `holds`, those whose hold has settled: ALUA reports this gateway AO for them (view.ts). */
  settled?: string[];
  /** Disk ids this gateway asks the holder to hand over (a write arrived here). */
  wants: string[];
  /** Of `wants`, those to hand over at once, hysteresis aside (SET TARGET PORT GROUPS). */
  urgent?: string[];
  /** Disk id -> the gateway asked to take it over now (SET TARGET PORT GROUPS through this one). */
  offers?: Record<string, string>;
  /** The latest resets done through this gateway, for the peers to apply (resets.ts). */
  resets?: ResetEvent[];
  /** Sender gateway -> its last reset applied here: the acknowledgement. */
  seen?: Record<string, SeenMark>;
}

export interface Board {
  publish(r: MemberRecord): Promise<void>;
  /** Every gateway's last record, this one's included. */
  readAll(): Promise<MemberRecord[]>;
  read(gateway: string): Promise<MemberRecord | undefined>;
  /** Called (possibly often) when a record may have changed. */
  onChange(cb: () => void): void;
  close(): Promise<void>;
}

function parse(text: string | Buffer): MemberRecord | undefined {
  try {
    const r = JSON.parse(text.toString()) as MemberRecord;
    if (typeof r.gateway !== 'string' || typeof r.seq !== 'number' || !Array.isArray(r.holds) || !Array.isArray(r.wants)) return undefined;
    return r;
  } catch {
    return undefined; // torn or foreign: ignored until the next renewal
  }
}

const SAFE = /[^A-Za-z0-9._-]/g;

export class FileBoard implements Board {
  readonly #dir: string;
  #watcher: FSWatcher | undefined;
  readonly #listeners: (() => void)[] = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  async #ensure(): Promise<void> {
    if (this.#watcher !== undefined) return;
    await mkdir(this.#dir, { recursive: true });
    try {
      this.#watcher = fsWatch(this.#dir, () => {
        for (const cb of this.#listeners) cb();
      });
      this.#watcher.on('error', () => undefined);
      this.#watcher.unref();
    } catch {
      // no inotify: the readers' poll still sees every change
    }
  }

  #path(gateway: string): string {
    return join(this.#dir, `${gateway.replace(SAFE, '_')}.json`);
  }

  async publish(r: MemberRecord): Promise<void> {
    await this.#ensure();
    const path = this.#path(r.gateway);
    const tmp = `${path}.${r.incarnation}.tmp`;
    await writeFile(tmp, JSON.stringify(r));
    await rename(tmp, path);
  }

  async read(gateway: string): Promise<MemberRecord | undefined> {
    try {
      return parse(await readFile(this.#path(gateway)));
    } catch {
      return undefined;
    }
  }

  async readAll(): Promise<MemberRecord[]> {
    await this.#ensure();
    const names = (await readdir(this.#dir)).filter((n) => n.endsWith('.json'));
    const out: MemberRecord[] = [];
    for (const n of names) {
      const r = await readFile(join(this.#dir, n)).then(parse, () => undefined);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  onChange(cb: () => void): void {
    this.#listeners.push(cb);
  }

  async close(): Promise<void> {
    this.#watcher?.close();
  }
}

export class RadosBoard implements Board {
  readonly #rados: RadosCluster;
  readonly #pool: string;
  readonly #prefix: string;
  readonly #listeners: (() => void)[] = [];
  #watch: Promise<WatchHandle | undefined> | undefined;
  /** Gateways seen so far (records are found by name; the config names the members). */
  readonly #known = new Set<string>();
  #notifying = false;

  constructor(rados: RadosCluster, pool: string, configObject: string, members: () => string[]) {
    this.#rados = rados;
    this.#pool = pool;
    this.#prefix = `${configObject}.ha`;
    this.#members = members;
  }

  readonly #members: () => string[];

  #ensureWatch(): Promise<WatchHandle | undefined> {
    this.#watch ??= (async () => {
      await this.#rados.createExclusive(this.#pool, this.#prefix).catch(() => false);
      return this.#rados
        .watch(
          this.#pool,
          this.#prefix,
          () => {
            for (const cb of this.#listeners) cb();
          },
          () => {
            this.#watch = undefined; // re-established on the next publish
          },
        )
        .catch(() => undefined);
    })();
    return this.#watch;
  }

  async publish(r: MemberRecord): Promise<void> {
    await this.#ensureWatch();
    await this.#rados.writeFull(this.#pool, `${this.#prefix}.${r.gateway}`, Buffer.from(JSON.stringify(r)));
    // One notify in flight: a dead watcher (a killed peer, until its OSD watch times out)
    // makes it wait for its timeout; the readers poll anyway.
    if (!this.#notifying) {
      this.#notifying = true;
      void this.#rados
        .notify(this.#pool, this.#prefix, Buffer.alloc(0), 500)
        .catch(() => 0)
        .finally(() => {
          this.#notifying = false;
        });
    }
  }

  async read(gateway: string): Promise<MemberRecord | undefined> {
    const buf = await this.#rados.readFull(this.#pool, `${this.#prefix}.${gateway}`);
    return buf === undefined ? undefined : parse(buf);
  }

  async readAll(): Promise<MemberRecord[]> {
    for (const m of this.#members()) this.#known.add(m);
    const out: MemberRecord[] = [];
    for (const g of this.#known) {
      const r = await this.read(g).catch(() => undefined);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  onChange(cb: () => void): void {
    this.#listeners.push(cb);
  }

  async close(): Promise<void> {
    const w = await this.#watch;
    await w?.close();
  }
}
