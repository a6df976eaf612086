/**
 * The bookkeeping every ConfigStore shares: watch() callbacks that hear of each new epoch
 * once (each with its own copy of the document), a single-flight "check for a new document"
 * that coalesces triggers arriving while one runs, and the in-process queue that serialises
 * update()s.
 */
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
