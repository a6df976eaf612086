/**
 * Block range lock that makes COMPARE AND WRITE atomic against overlapping
 * writes when the backstore has no native compareAndWrite (SBC-4 "COMPARE AND
 * WRITE command": the compare and the write are one atomic operation with
 * respect to other commands).
 *
 * Cheap common path: writes only take a shared hold and wait only when an
 * exclusive (CAW) range overlapping theirs is queued or running; exclusive
 * holders wait for overlapping holders of either kind. FIFO among conflicts,
 * so a CAW is not starved by a stream of writes.
 */

interface Holder {
  start: number;
  end: number; // exclusive
  exclusive: boolean;
  granted: boolean;
  wake: (() => void) | undefined;
}

export type Release = () => void;

const noop: Release = () => {};

export class RangeLock {
  private readonly holders: Holder[] = [];
  private exclusiveCount = 0;

  /** Number of holders (granted or waiting); for tests and metrics. */
  get size(): number {
    return this.holders.length;
  }

  /**
   * Shared hold for a write of [start, end). Returns synchronously-resolved
   * release when no exclusive range is present (no allocation, no await needed
   * beyond the caller's).
   */
  acquireShared(start: number, end: number): Release | Promise<Release> {
    if (this.exclusiveCount === 0) return noop;
    return this.enqueue(start, end, false);
  }

  acquireExclusive(start: number, end: number): Promise<Release> {
    this.exclusiveCount++;
    return this.enqueue(start, end, true);
  }

  private conflictsBefore(h: Holder, index: number): boolean {
    for (let i = 0; i < index; i++) {
      const o = this.holders[i]!;
      if (o.start < h.end && h.start < o.end && (o.exclusive || h.exclusive)) return true;
    }
    return false;
  }

  private enqueue(start: number, end: number, exclusive: boolean): Promise<Release> {
    const h: Holder = { start, end: Math.max(end, start + 1), exclusive, granted: false, wake: undefined };
    this.holders.push(h);
    const release: Release = () => this.release(h);
    if (!this.conflictsBefore(h, this.holders.length - 1)) {
      h.granted = true;
      return Promise.resolve(release);
    }
    return new Promise<Release>((resolve) => {
      h.wake = () => resolve(release);
    });
  }

  private release(h: Holder): void {
    const i = this.holders.indexOf(h);
    if (i < 0) return;
    this.holders.splice(i, 1);
    if (h.exclusive) this.exclusiveCount--;
    for (let j = 0; j < this.holders.length; j++) {
      const w = this.holders[j]!;
      if (!w.granted && !this.conflictsBefore(w, j)) {
        w.granted = true;
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
      }
    }
  }
}
