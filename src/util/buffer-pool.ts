/**
 * Reusable backing stores for large I/O buffers (a write command's Data-Out): allocating
 * a fresh 1 MiB ArrayBuffer per command makes V8 count external memory and run
 * mark-compact GCs back to back (a third of the main thread at 1 MiB QD8 writes).
 * Size classes are powers of two from 64 KiB to 16 MiB; at most `capBytes` are kept.
 *
 * The rule that makes it safe: release() only a buffer that nobody references any more
 * (the owner knows: the backstore contract says write() keeps no reference once settled).
 */
export const POOL_MIN = 64 * 1024;
const POOL_MAX = 16 * 1024 * 1024;

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private kept = 0;

  constructor(private readonly capBytes = 64 * 1024 * 1024) {}

  /** Bytes held for reuse. */
  get keptBytes(): number {
    return this.kept;
  }

  /** A buffer of exactly n bytes (uninitialised), n in [POOL_MIN, POOL_MAX]; larger or smaller: a plain allocation. */
  acquire(n: number): Buffer {
    if (n < POOL_MIN || n > POOL_MAX) return Buffer.allocUnsafeSlow(n);
    const size = sizeClass(n);
    const list = this.free.get(size);
    const ab = list?.pop();
    if (ab !== undefined) {
      this.kept -= size;
      return Buffer.from(ab, 0, n);
    }
    return Buffer.from(new ArrayBuffer(size), 0, n);
  }

  /** Gives back a buffer from acquire(); others (views, odd sizes) are left to the GC. */
  release(buf: Buffer): void {
    const ab = buf.buffer;
    const size = ab.byteLength;
    if (!(ab instanceof ArrayBuffer) || buf.byteOffset !== 0 || size < POOL_MIN || size > POOL_MAX || sizeClass(size) !== size) return;
    if (this.kept + size > this.capBytes) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    if (list.includes(ab)) return; // released twice: keep one entry
    list.push(ab);
    this.kept += size;
  }
}

function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** The process-wide pool of the iSCSI data path. */
export const ioBuffers = new BufferPool();
