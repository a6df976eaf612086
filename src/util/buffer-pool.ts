/**
 * Reusable backing stores for large I/O buffers (a write's Data-Out, a read's Data-In): allocating
 * a fresh 1 MiB ArrayBuffer per command makes V8 count external memory and run
 * mark-compact GCs back to back (a third of the main thread at 1 MiB QD8 writes).
 * Size classes are powers of two from 4 KiB to 16 MiB; at most `capBytes` are kept. The data
 * path lends buffers of POOL_MIN and more for any command, and smaller ones only for block
 * writes (whose handlers keep no view of the data once the command is done).
 *
 * The rule that makes it safe: release() only a buffer that nobody references any more
 * (the owner knows: the backstore contract says write() keeps no reference once settled;
 * a read's Data-In buffer is free once the socket has written it).
 */
export const POOL_MIN = 64 * 1024;
export const POOL_MAX = 16 * 1024 * 1024;
/** The smallest size class: smaller requests are plain allocations. */
export const POOL_SMALLEST = 4096;

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Backing stores handed out by acquire() and not released yet: release() acts on these only. */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private kept = 0;

  constructor(private readonly capBytes = 64 * 1024 * 1024) {}

  /** Bytes held for reuse. */
  get keptBytes(): number {
    return this.kept;
  }

  /**
   * A buffer of exactly n bytes (uninitialised), n in [POOL_SMALLEST, POOL_MAX]; larger: a plain
   * allocation; smaller: a slice of Node's shared slab (release() ignores both).
   */
  acquire(n: number): Buffer {
    if (n < POOL_SMALLEST) return Buffer.allocUnsafe(n);
    if (n > POOL_MAX) return Buffer.allocUnsafeSlow(n);
    const size = sizeClass(n);
    const list = this.free.get(size);
    let ab = list?.pop();
    if (ab !== undefined) this.kept -= size;
    else ab = new ArrayBuffer(size);
    this.lent.add(ab);
    return Buffer.from(ab, 0, n);
  }

  /** Gives back a buffer from acquire() (or a view of one); anything else, or a second release, is a no-op. */
  release(buf: Buffer): void {
    const ab = buf.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.lent.has(ab)) return;
    this.lent.delete(ab);
    const size = ab.byteLength;
    if (this.kept + size > this.capBytes) return; // left to the GC
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(ab);
    this.kept += size;
  }

  /** Whether buf is (a view of) a buffer lent by acquire(). */
  owns(buf: Buffer): boolean {
    return buf.buffer instanceof ArrayBuffer && this.lent.has(buf.buffer);
  }
}

function sizeClass(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}

/** The process-wide pool of the iSCSI data path. */
export const ioBuffers = new BufferPool();
