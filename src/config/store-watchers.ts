/**
 * The bookkeeping every ConfigStore shares: watch() callbacks that hear of each new epoch
 * once, a single-flight "check for a new document" that coalesces triggers arriving while one
 * runs, the in-process queue that serialises update()s, and the latest document (frozen,
 * snapshot.ts) with the version it was stored under, so that a store reads and parses the
 * document only when a cheap probe says it changed. WatchedConfigStore puts them together for
 * the file and RADOS stores.
 */
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { configTime, type GatewayConfig } from './schema.js';
import { ConfigFormatter } from './format.js';
import { editDoc, freezeDeep, shareUnchanged } from './snapshot.js';

interface Watcher {
  cb: (doc: GatewayConfig) => void;
  lastEpoch: number | undefined;
}

export class ConfigWatchers {
  private readonly set = new Set<Watcher>();
  constructor(private readonly log?: Logger) {}

  get size(): number {
    return this.set.size;
  }

  /**
   * Adds a callback; `current` gives the epoch now (only later changes are reported).
   * Returns the remover, which calls `onEmpty` when the last watcher goes.
   */
  add(cb: (doc: GatewayConfig) => void, current: Promise<number | undefined>, onEmpty: () => void): () => void {
    const w: Watcher = { cb, lastEpoch: undefined };
    this.set.add(w);
    void current.then(
      (epoch) => {
        w.lastEpoch ??= epoch ?? -1;
      },
      () => {
        w.lastEpoch ??= -1;
      },
    );
    return () => {
      this.set.delete(w);
      if (this.set.size === 0) onEmpty();
    };
  }

  /** Hands `doc` to every watcher that has not seen its epoch yet. */
  deliver(doc: GatewayConfig): void {
    for (const w of this.set) {
      if (w.lastEpoch === doc.epoch) continue;
      w.lastEpoch = doc.epoch;
      try {
        // A callback must not mutate another's view: a frozen document is shared, others copied.
        w.cb(Object.isFrozen(doc) ? doc : structuredClone(doc));
      } catch (err) {
        this.log?.error({ err }, 'config watch callback failed');
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}

/** Runs `fn` one at a time; a trigger during a run schedules exactly one more run. */
export class SingleFlight {
  private running = false;
  private pending = false;
  constructor(
    private readonly fn: (fromPoll: boolean) => Promise<void>,
    private readonly wanted: () => boolean,
  ) {}

  trigger(fromPoll = false): void {
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = true;
    void this.fn(fromPoll).finally(() => {
      this.running = false;
      if (this.pending && this.wanted()) {
        this.pending = false;
        this.trigger();
      }
    });
  }
}

/** A promise queue: update()s of one store run one after the other in this process. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Resolves when everything queued so far has settled. */
  async drain(): Promise<void> {
    await this.tail;
  }
}

/**
 * What the file and RADOS config stores have in common: the update() queue, the watchers and
 * their single-flight check, watch(), close() and the closed guard. A store supplies how to
 * read its document, how to notice changes (start/stopWatching) and what a check does.
 */
/** What current() found: the stored document (frozen); `changed` when it was migrated (write it back). */
export interface CurrentDoc {
  doc: GatewayConfig;
  changed: boolean;
}

export abstract class WatchedConfigStore {
  protected readonly queue = new SerialQueue();
  protected readonly watchers: ConfigWatchers;
  protected readonly checker: SingleFlight;
  protected closed = false;
  protected readonly formatter = new ConfigFormatter();
  /** The last document read or written here, frozen, and the probe's version of it. */
  #latest: { doc: GatewayConfig; version: string } | undefined;

  constructor(protected readonly log: Logger | undefined) {
    this.watchers = new ConfigWatchers(log);
    // Checks queue behind this process's update()s: a check racing a write would see the file
    // replaced before the write kept its version, and read back what was just written.
    this.checker = new SingleFlight((fromPoll) => this.queue.run(() => this.check(fromPoll)), () => this.watchers.size > 0);
  }

  /** For messages: where the document lives. */
  protected abstract get where(): string;
  /** Reads + parses + migrates; undefined when the document was never written. */
  protected abstract readDoc(): Promise<{ doc: GatewayConfig; changed: boolean } | undefined>;
  /**
   * A cheap look at which version of the document is stored (file: inode, size, times; RADOS:
   * the epoch xattr); undefined when it cannot tell (the document is then read).
   */
  protected abstract probe(): Promise<string | undefined>;
  protected abstract startWatching(): void;
  protected abstract stopWatching(): void;
  /** Looks for a new document and delivers it to the watchers. */
  protected abstract check(fromPoll: boolean): Promise<void>;

  watch(onChange: (doc: GatewayConfig) => void): () => void {
    this.assertOpen();
    // Learn the current epoch without calling back: only changes are reported.
    const stop = this.watchers.add(onChange, this.current().then((got) => got?.doc.epoch), () => this.stopWatching());
    this.startWatching();
    return stop;
  }

  /** The current document, frozen and shared between readers: read only when it changed. */
  async snapshot(): Promise<GatewayConfig> {
    this.assertOpen();
    const got = await this.current();
    if (got !== undefined && !got.changed) return got.doc;
    // Never written (seeded by load) or an older version (load writes the upgrade back).
    return freezeDeep(shareUnchanged(this.#latest?.doc, await this.load()));
  }

  abstract load(): Promise<GatewayConfig>;

  /**
   * The stored document: the kept one when the probe still gives its version, else read,
   * parsed, and frozen sharing every unchanged part with the kept one. undefined when the
   * document was never written. `fresh`: read it whatever the probe says (still sharing).
   */
  protected async current(fresh = false): Promise<CurrentDoc | undefined> {
    const version = await this.probe();
    const latest = this.#latest;
    if (!fresh && version !== undefined && latest?.version === version) return { doc: latest.doc, changed: false };
    const got = await this.readDoc();
    if (got === undefined) return undefined;
    const doc = freezeDeep(shareUnchanged(latest?.doc, got.doc));
    // A migrated document is kept once written back (under the version of that write).
    if (!got.changed && version !== undefined) this.#latest = { doc, version };
    return { doc, changed: got.changed };
  }

  /** After a write: `doc` is what is stored now, under `version`. */
  protected remember(doc: GatewayConfig, version: string | undefined): void {
    this.#latest = version === undefined ? undefined : { doc, version };
  }

  /** After a failed write: what is stored is unknown; the next current() reads. */
  protected forget(): void {
    this.#latest = undefined;
  }

  /**
   * Runs `mutator` on a draft of `base` (copy on write). `next` is undefined when there is
   * nothing to write: the mutator returned false and `base` needs no write-back. Else `next`
   * has epoch + 1 and `updated` stamped, shares every part the mutator did not write with
   * `base`, and is frozen. `seeded`: `base` is a new seed not stored yet, always written, with
   * its epoch kept when the mutator changed nothing.
   */
  protected async edit<T>(base: CurrentDoc, mutator: (doc: GatewayConfig) => T | Promise<T>, seeded = false): Promise<{ next: GatewayConfig | undefined; result: T }> {
    const e = await editDoc(base.doc, mutator);
    const unchanged = e.result === false;
    if (unchanged && !base.changed && !seeded) return { next: undefined, result: e.result };
    const next = e.finish((d) => {
      if (!(seeded && unchanged)) d.epoch = (typeof d.epoch === 'number' ? d.epoch : 0) + 1;
      d.updated = configTime();
    });
    return { next, result: e.result };
  }

  /** The document's bytes (formatConfig's text, UTF-8; unchanged parts' bytes are reused). */
  protected format(doc: GatewayConfig): Buffer {
    return this.formatter.formatBytes(doc);
  }

  /** format() as the kept pieces, in order (for a vectored write). */
  protected formatPieces(doc: GatewayConfig): Buffer[] {
    return this.formatter.formatPieces(doc);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    this.stopWatching();
    await this.queue.drain();
  }

  protected assertOpen(): void {
    if (this.closed) throw new GatewayError('ERR_CONFIG_CLOSED', `config store ${this.where} is closed`);
  }
}
