/**
 * The bookkeeping every ConfigStore shares: watch() callbacks that hear of each new epoch
 * once (each with its own copy of the document), a single-flight "check for a new document"
 * that coalesces triggers arriving while one runs, and the in-process queue that serialises
 * update()s. WatchedConfigStore puts them together for the file and RADOS stores.
 */
import { GatewayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { GatewayConfig } from './schema.js';

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
        // Each watcher gets its own copy: a callback must not mutate another's view.
        w.cb(structuredClone(doc));
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
export abstract class WatchedConfigStore {
  protected readonly queue = new SerialQueue();
  protected readonly watchers: ConfigWatchers;
  protected readonly checker: SingleFlight;
  protected closed = false;

  constructor(protected readonly log: Logger | undefined) {
    this.watchers = new ConfigWatchers(log);
    this.checker = new SingleFlight((fromPoll) => this.check(fromPoll), () => this.watchers.size > 0);
  }

  /** For messages: where the document lives. */
  protected abstract get where(): string;
  /** Reads + parses + migrates; undefined when the document was never written. */
  protected abstract readDoc(): Promise<{ doc: GatewayConfig; changed: boolean } | undefined>;
  protected abstract startWatching(): void;
  protected abstract stopWatching(): void;
  /** Looks for a new document and delivers it to the watchers. */
  protected abstract check(fromPoll: boolean): Promise<void>;

  watch(onChange: (doc: GatewayConfig) => void): () => void {
    this.assertOpen();
    // Learn the current epoch without calling back: only changes are reported.
    const stop = this.watchers.add(onChange, this.readDoc().then((got) => got?.doc.epoch), () => this.stopWatching());
    this.startWatching();
    return stop;
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
