/**
 * Persistent-reservation state of one RBD logical unit in RADOS, shared by every gateway
 * that exports the image, whatever host it runs on (backstore = rbd). See docs/ha.md
 * "Persistent reservations across gateways".
 *
 * RadosSharedPrStore (scsi/reservations.ts SharedPrStore), one per LU per gateway:
 * - the object `igw.pr.<image>` in the image's pool holds `{ "version": n, "doc": <PR
 *   document>, "lu": <disk WWN>, "updated": <ISO time> }` (the envelope of the file store;
 *   a document of another `lu` - the disk was deleted and made again - reads as never
 *   written, the version going on), and its xattr
 *   `igw.version` holds n as decimal text; both are written by ONE write op, so they never
 *   disagree;
 * - update() = read the object, run the mutator, then one write op guarded by
 *   cmpxattr(igw.version == n) (exclusive create when the object is absent) carrying
 *   write_full(envelope n + 1) and setxattr(igw.version, n + 1). A lost race (-ECANCELED,
 *   -EEXIST) is retried with a fresh read; nothing else ever writes the object;
 * - version() is one getxattr, for PR IN;
 * - after a successful write the writer notifies the object with `{ "version": n + 1 }`
 *   and waits (bounded by notifyTimeoutMs) until every live watcher acknowledged. A watcher
 *   acknowledges only when the state it follows is at least that version: its PR state has
 *   adopted the change before the issuing gateway completes the PR OUT. A watcher that does
 *   not answer (dead, frozen) costs the writer notifyTimeoutMs and is caught up later;
 * - every gateway also polls igw.version: every second (default) while it has no watch, every
 *   WATCHED_POLL_EVERY polls while the watch stands (each LU polls: at 1,000 LUNs a poll a
 *   second each was 1,000 OSD reads a second and ~2 s of the loop a minute), and re-watches
 *   when the watch breaks, so a lost notify delays a peer by one poll at most;
 * - open()'s `alone()`: a notify right after this gateway's watch is established; any ack from
 *   another watcher means another gateway has the state open (a killed gateway's watch lasts
 *   until the OSD times it out, osd_client_watch_timeout: it is not alive, it does not ack).
 *
 * The librados calls come in through PrRadosObjects (backstore/rbd/rados.ts RadosCluster
 * implements them), looked up on every use: the connection may be replaced (rejoin).
 */
import type { SharedPrSnapshot, SharedPrStore } from '../scsi/reservations.js';
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** The librados object operations the store needs. */
export interface PrRadosObjects {
  readFull(pool: string, oid: string): Promise<Buffer | undefined>;
  getXattr(pool: string, oid: string, name: string): Promise<string | undefined>;
  /** write_full + setxattr guarded by cmpxattr(xattr == expect), or by exclusive create when expect is undefined; false: guard failed. */
  writeFullGuarded(pool: string, oid: string, xattr: string, expect: string | undefined, data: Buffer, next: string): Promise<boolean>;
  watch(
    pool: string,
    oid: string,
    onNotify: (payload: Buffer) => void | Promise<void>,
    onError: (rc: number) => void,
    opts?: { ackWhenDone?: boolean },
  ): Promise<{ readonly cookie: bigint; close(): Promise<void> }>;
  notifyWatchers(pool: string, oid: string, payload: Buffer, timeoutMs: number): Promise<{ acks: { gid: bigint; cookie: bigint }[] }>;
  instanceId(): bigint;
}

export interface RadosSharedPrStoreOptions {
  /** The connection to use now (looked up on every call). */
  rados: () => PrRadosObjects;
  pool: string;
  image: string;
  /**
   * The LU's identity (the disk's WWN): a document stored for another LU of the same image
   * name (the disk was deleted and created again) is not adopted.
   */
  lu?: string;
  /** igw.version poll interval (default 1000 ms). */
  pollIntervalMs?: number;
  /** How long a writer waits for the watchers' acks (default 3000 ms). */
  notifyTimeoutMs?: number;
  /**
   * How long open()'s census waits (default 1000 ms): live peers ack it at once, a killed
   * gateway's lingering watch never does, and the LU open waits that long for it.
   */
  censusTimeoutMs?: number;
  /** How long update() keeps retrying lost compare-and-write races (default 20 000 ms). */
  updateTimeoutMs?: number;
  logger?: Logger;
}

/** The object of an image's PR state (image names are [A-Za-z0-9._-]: no escaping needed). */
export function prObjectName(image: string): string {
  return `igw.pr.${image}`;
}

/** The xattr mirroring the envelope's version (the compare-and-write guard). */
export const PR_VERSION_XATTR = 'igw.version';

const REWATCH_MS = 1000;
/** While watched, the version is polled once every this many poll intervals (30 s by default). */
const WATCHED_POLL_EVERY = 30;

interface Envelope {
  version: number;
  doc: unknown;
  /**
   * The write guard: the igw.version value expected (cmpxattr EQ), or undefined when the
   * object does not exist (exclusive create). An empty object (created by hand) expects ""
   * (cmpxattr EQ "" holds for an absent xattr).
   */
  guard: string | undefined;
}

function ioError(what: string, err: unknown): GatewayError {
  return new GatewayError('ERR_PR_STORE_IO', `persistent reservation state: ${what}: ${(err as Error).message}`, { cause: err });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Decodes the object's content: version 0 and no document when empty. Throws ERR_SCSI_PR_STATE when corrupt. */
export function decodePrEnvelope(data: Buffer, where: string): { version: number; doc: unknown; lu?: string } {
  const text = data.toString('utf8');
  if (text.trim() === '') return { version: 0, doc: undefined };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('ERR_SCSI_PR_STATE', `persistent reservation state: ${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : undefined;
  const v = o?.['version'];
  if (o === undefined || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new GatewayError('ERR_SCSI_PR_STATE', `persistent reservation state: ${where} has no valid "version"`);
  }
  const lu = o['lu'];
  return typeof lu === 'string' ? { version: v, doc: o['doc'], lu } : { version: v, doc: o['doc'] };
}

export class RadosSharedPrStore implements SharedPrStore {
  readonly pool: string;
  readonly oid: string;
  readonly #rados: () => PrRadosObjects;
  readonly #lu: string | undefined;
  readonly #pollMs: number;
  readonly #notifyMs: number;
  readonly #censusMs: number;
  readonly #updateMs: number;
  readonly #log: Logger | undefined;
  /** In-process serialisation of update()s. */
  #queue: Promise<unknown> = Promise.resolve();
  /** The newest version handed to the user (load, update): what it follows. */
  #known = 0;
  /** Notifies waiting for #known to reach their version (then they are acknowledged). */
  readonly #waiting = new Set<{ version: number; resolve: () => void }>();
  readonly #watchers = new Set<() => void | Promise<void>>();
  #watch: { readonly cookie: bigint; close(): Promise<void> } | undefined;
  #watchStarting: Promise<void> | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #rewatchTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: RadosSharedPrStoreOptions) {
    this.#rados = opts.rados;
    this.pool = opts.pool;
    this.oid = prObjectName(opts.image);
    this.#lu = opts.lu;
    this.#pollMs = opts.pollIntervalMs ?? 1000;
    this.#notifyMs = opts.notifyTimeoutMs ?? 3000;
    this.#censusMs = opts.censusTimeoutMs ?? 1000;
    this.#updateMs = opts.updateTimeoutMs ?? 20_000;
    this.#log = opts.logger;
  }

  get #where(): string {
    return `rados object ${this.pool}/${this.oid}`;
  }

  async open(): Promise<SharedPrSnapshot & { alone: () => Promise<boolean> }> {
    // The object must exist to be watched: create it as version 0 unless it is there.
    try {
      await this.#rados().writeFullGuarded(this.pool, this.oid, PR_VERSION_XATTR, undefined, this.#encode(0, undefined), '0');
    } catch (err) {
      throw ioError(`cannot create ${this.#where}`, err);
    }
    await this.#startWatch(true);
    const mine = this.#watch;
    // A census once this gateway's watch is up: any ack but its own is another live user.
    const alone = async (): Promise<boolean> => {
      try {
        const r = await this.#rados().notifyWatchers(this.pool, this.oid, Buffer.from('{"hello":true}'), this.#censusMs);
        const me = this.#rados().instanceId();
        return !r.acks.some((a) => !(a.gid === me && a.cookie === mine?.cookie));
      } catch (err) {
        throw ioError(`cannot notify ${this.#where}`, err);
      }
    };
    this.#ensurePoll();
    const snap = await this.load();
    return { ...snap, alone };
  }

  async load(): Promise<SharedPrSnapshot> {
    const env = await this.#read();
    this.#seen(env.version);
    return { version: env.version, doc: env.doc };
  }

  async version(): Promise<number> {
    let x: string | undefined;
    try {
      x = await this.#rados().getXattr(this.pool, this.oid, PR_VERSION_XATTR);
    } catch (err) {
      throw ioError(`cannot read the version of ${this.#where}`, err);
    }
    if (x === undefined) return 0;
    const v = Number(x);
    if (!Number.isSafeInteger(v) || v < 0) throw new GatewayError('ERR_SCSI_PR_STATE', `persistent reservation state: ${this.#where} has a bad ${PR_VERSION_XATTR} "${x}"`);
    return v;
  }

  update<T>(mutator: (cur: SharedPrSnapshot) => { doc?: unknown; result: T }): Promise<{ version: number; result: T }> {
    const run = async (): Promise<{ version: number; result: T }> => {
      const deadline = Date.now() + this.#updateMs;
      let delay = 2;
      for (let attempt = 1; ; attempt++) {
        const cur = await this.#read();
        const out = mutator({ version: cur.version, doc: cur.doc });
        // The mutator adopted `cur` (a notify for it may be acknowledged now).
        this.#seen(cur.version);
        if (out.doc === undefined) return { version: cur.version, result: out.result };
        const next = cur.version + 1;
        let won: boolean;
        try {
          won = await this.#rados().writeFullGuarded(
            this.pool,
            this.oid,
            PR_VERSION_XATTR,
            cur.guard,
            this.#encode(next, out.doc),
            String(next),
          );
        } catch (err) {
          throw ioError(`cannot write ${this.#where}`, err);
        }
        if (won) {
          this.#seen(next);
          await this.#notifyPeers(next);
          return { version: next, result: out.result };
        }
        // Another gateway wrote in between: read again (the mutator runs again on its state).
        if (Date.now() >= deadline) {
          throw new GatewayError('ERR_PR_STORE_IO', `persistent reservation state: ${this.#where}: still losing the compare-and-write race after ${attempt} attempts`);
        }
        // Contention back-off (not synchronisation: the guard decides).
        await sleep(delay * Math.random());
        delay = Math.min(delay * 2, 100);
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  watch(onChange: () => void | Promise<void>): () => void {
    this.#watchers.add(onChange);
    this.#ensurePoll();
    void this.#startWatch(false);
    return () => {
      this.#watchers.delete(onChange);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    if (this.#rewatchTimer !== undefined) clearTimeout(this.#rewatchTimer);
    this.#rewatchTimer = undefined;
    for (const w of this.#waiting) w.resolve();
    this.#waiting.clear();
    await this.#queue;
    await this.#watchStarting;
    const h = this.#watch;
    this.#watch = undefined;
    await h?.close().catch(() => undefined);
  }

  // -------------------------------------------------------------------------

  #encode(version: number, doc: unknown): Buffer {
    return Buffer.from(JSON.stringify({ version, doc, lu: this.#lu, updated: new Date().toISOString() }), 'utf8');
  }

  async #read(): Promise<Envelope> {
    let data: Buffer | undefined;
    try {
      data = await this.#rados().readFull(this.pool, this.oid);
    } catch (err) {
      throw ioError(`cannot read ${this.#where}`, err);
    }
    if (data === undefined) return { version: 0, doc: undefined, guard: undefined };
    if (data.length === 0) return { version: 0, doc: undefined, guard: '' };
    const env = decodePrEnvelope(data, this.#where);
    const mine = this.#lu === undefined || env.lu === undefined || env.lu === this.#lu;
    return { version: env.version, doc: mine ? env.doc : undefined, guard: String(env.version) };
  }

  /** The user follows `version` now: acknowledge the notifies waiting for it. */
  #seen(version: number): void {
    if (version <= this.#known) return;
    this.#known = version;
    for (const w of this.#waiting) {
      if (w.version <= version) {
        this.#waiting.delete(w);
        w.resolve();
      }
    }
  }

  /** Tells the watchers (this gateway's too) and waits for the live ones to have adopted it. */
  async #notifyPeers(version: number): Promise<void> {
    try {
      await this.#rados().notifyWatchers(this.pool, this.oid, Buffer.from(JSON.stringify({ version })), this.#notifyMs);
    } catch (err) {
      // Stored already: the peers' poll picks it up.
      this.#log?.warn({ err: (err as Error).message, object: this.#where }, 'PR notify failed; peers catch up by polling');
    }
  }

  /** A notify arrived: resolves (= acknowledges) once the user follows its version. */
  #onNotify(payload: Buffer): Promise<void> | undefined {
    let version: number | undefined;
    try {
      const o = JSON.parse(payload.toString('utf8')) as { version?: unknown };
      if (typeof o.version === 'number') version = o.version;
    } catch {
      version = undefined;
    }
    // Census, already followed, or nobody follows this store's state: acknowledged at once.
    if (version === undefined || version <= this.#known || this.#closed || this.#watchers.size === 0) return undefined;
    const v = version;
    const caughtUp = new Promise<void>((resolve) => {
      const w = { version: v, resolve };
      this.#waiting.add(w);
      // The notifier stops waiting at its timeout anyway; do not keep waiters past it.
      const t = setTimeout(() => {
        this.#waiting.delete(w);
        resolve();
      }, this.#notifyMs);
      t.unref();
    });
    this.#deliver();
    return caughtUp;
  }

  #deliver(): void {
    for (const cb of this.#watchers) {
      try {
        const r = cb();
        if (r instanceof Promise) r.catch(() => undefined);
      } catch {
        // a watcher's failure is its own
      }
    }
  }

  #ensurePoll(): void {
    if (this.#pollTimer !== undefined || this.#closed) return;
    let quiet = 0;
    this.#pollTimer = setInterval(() => {
      if (this.#watchers.size === 0) return;
      // With a watch, notifies bring changes in: the poll is a rare safety net.
      if (this.#watch !== undefined && ++quiet < WATCHED_POLL_EVERY) return;
      quiet = 0;
      this.version().then(
        (v) => {
          if (v > this.#known) this.#deliver();
        },
        () => undefined,
      );
    }, this.#pollMs);
    this.#pollTimer.unref();
  }

  /** Establishes the RADOS watch (once; re-established after it breaks). `must`: throw on failure. */
  #startWatch(must: boolean): Promise<void> {
    if (this.#watch !== undefined || this.#closed) return Promise.resolve();
    this.#watchStarting ??= (async () => {
      try {
        const h = await this.#rados().watch(
          this.pool,
          this.oid,
          (payload) => this.#onNotify(payload),
          (rc) => {
            this.#log?.warn({ rc, object: this.#where }, 'PR watch lost; re-watching');
            const old = this.#watch;
            this.#watch = undefined;
            void old?.close().catch(() => undefined);
            this.#deliver();
            this.#scheduleRewatch();
          },
          { ackWhenDone: true },
        );
        if (this.#closed) await h.close().catch(() => undefined);
        else this.#watch = h;
      } finally {
        this.#watchStarting = undefined;
      }
    })();
    return this.#watchStarting.catch((err: unknown) => {
      if (must) throw ioError(`cannot watch ${this.#where}`, err);
      this.#log?.warn({ err: (err as Error).message, object: this.#where }, 'cannot watch the PR object; polling only for now');
      this.#scheduleRewatch();
    });
  }

  #scheduleRewatch(): void {
    if (this.#rewatchTimer !== undefined || this.#closed) return;
    this.#rewatchTimer = setTimeout(() => {
      this.#rewatchTimer = undefined;
      void this.#startWatch(false);
    }, REWATCH_MS);
    this.#rewatchTimer.unref();
  }
}
