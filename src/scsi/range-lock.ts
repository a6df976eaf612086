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

export class RangeLock {
  private readonly holders: Holder[] = [];
  private exclusiveCount = 0;
  private waiting = 0;

  /** Number of holders (granted or waiting); for tests and metrics. */
  get size(): number {
    return this.holders.length;
  }

  /**
   * Shared hold for a write of [start, end). Granted synchronously (no promise,
   * no scan) unless an exclusive range is queued or held.
   */
  acquireShared(start: number, end: number): Release | Promise<Release> {
    const h: Holder = { start, end: Math.max(end, start + 1), exclusive: false, granted: true, wake: undefined };
    this.holders.push(h);
    const release: Release = () => this.release(h);
    if (this.exclusiveCount === 0 || !this.conflictsBefore(h, this.holders.length - 1)) return release;
    h.granted = false;
    this.waiting++;
    return new Promise<Release>((resolve) => {
      h.wake = () => resolve(release);
    });
  }

  /** Exclusive hold (COMPARE AND WRITE, ORWRITE): waits for every overlapping earlier holder. */
  acquireExclusive(start: number, end: number): Promise<Release> {
    this.exclusiveCount++;
    const h: Holder = { start, end: Math.max(end, start + 1), exclusive: true, granted: true, wake: undefined };
    this.holders.push(h);
    const release: Release = () => this.release(h);
    if (!this.conflictsBefore(h, this.holders.length - 1)) return Promise.resolve(release);
    h.granted = false;
    this.waiting++;
    return new Promise<Release>((resolve) => {
      h.wake = () => resolve(release);
    });
  }

  private conflictsBefore(h: Holder, index: number): boolean {
    for (let i = 0; i < index; i++) {
      const o = this.holders[i]!;
      if (o.start < h.end && h.start < o.end && (o.exclusive || h.exclusive)) return true;
    }
    return false;
  }

  private release(h: Holder): void {
    const i = this.holders.indexOf(h);
    if (i < 0) return;
    this.holders.splice(i, 1);
    if (h.exclusive) this.exclusiveCount--;
    if (this.waiting === 0) return;
    for (let j = 0; j < this.holders.length; j++) {
      const w = this.holders[j]!;
      if (!w.granted && !this.conflictsBefore(w, j)) {
        w.granted = true;
        this.waiting--;
        const wake = w.wake;
        w.wake = undefined;
        wake?.();
      }
    }
  }
}
