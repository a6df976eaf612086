/**
 * A logical unit's data in one sparse file: the embedded default backstore.
 * Reads and writes go straight into / out of the caller's buffers at a
 * position (no per-call allocation); UNMAP punches holes; GET LBA STATUS walks
 * the file with SEEK_DATA/SEEK_HOLE, which costs O(extents in the range), not
 * O(blocks) — a fragmented thin LUN still answers in microseconds.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FileHandle } from 'node:fs/promises';
import { BackstoreError, type AllocationExtent, type BackingStore } from './backstore.js';
import {
  posix,
  FIEMAP_EXTENT_LAST,
  FIEMAP_EXTENT_SIZE,
  FIEMAP_HEADER_SIZE,
  PosixError,
  SEEK_DATA,
  SEEK_HOLE,
  type Posix,
} from './posix.js';

/** Size of the buffers writeSame() fills and writes in one call. */
const WRITE_SAME_CHUNK = 1 << 20;
/** EOPNOTSUPP / ENOTSUP on Linux. */
const EOPNOTSUPP = 95;
/** Extents fetched per FIEMAP call. */
const FIEMAP_BATCH = 512;
/** Reads up to this size first try the page cache synchronously (preadv2 RWF_NOWAIT). */
const NOWAIT_READ_MAX = 64 * 1024;
/** RWF_NOWAIT (linux/fs.h): fail with EAGAIN instead of waiting for I/O. */
const RWF_NOWAIT = 0x08;
const RESOLVED: Promise<void> = Promise.resolve();
/**
 * Writes up to this size (without FUA) are done on the loop (pwrite into the page cache, a
 * few µs) instead of through libuv's thread pool, whose hand-off and wake-ups each way cost a
 * 4 KiB write most of its latency on this machine kind (a VM: waking the other vCPU is slow).
 * Measured A/B (2026-12-06, two gateways, same run): 4 KiB writes QD1 1.11-1.63x the IOPS,
 * QD32 1.02-1.84x, CPU per write 15 against 19 µs. A buffered write can still sleep (the
 * journal, writeback: 1-4 ms seen a few times a minute under a write benchmark; dirty-page
 * throttling: up to 200 ms): one that takes longer than INLINE_SLOW_MS sends this file's
 * writes back to the pool for INLINE_BACKOFF_MS, so a long stall costs the loop once, not per
 * write. (At 1 ms the few-ms sleeps turned it off for most of a run.)
 * IGW_NO_INLINE_WRITE=1 in the environment turns it off.
 */
const INLINE_WRITE_MAX = 64 * 1024;
const INLINE_WRITES = process.env['IGW_NO_INLINE_WRITE'] !== '1';
const INLINE_SLOW_MS = 10;
const INLINE_BACKOFF_MS = 5000;

/**
 * preadv2(fd, {buf, len}, 1, pos, RWF_NOWAIT): returns the bytes read, or -1
 * (EAGAIN: not all in the page cache, or any other error — the caller then
 * takes the threadpool path, which reports real errors).
 */
type NoWaitRead = (fd: number, buf: Buffer, pos: number) => number;
let noWaitReadFn: NoWaitRead | null | undefined;

/**
 * Measured on the bench host: a 4 KiB fs.read() through the libuv threadpool
 * costs ~35 µs of wake-ups end to end, a page-cache hit through preadv2
 * RWF_NOWAIT ~1.5 µs on the loop thread (Linux ≥ 4.14: a buffered read that
 * would wait for the disk fails with EAGAIN instead, so the loop never blocks
 * on I/O). That hop was most of our QD1 latency gap to tgt.
 */
function noWaitRead(): NoWaitRead | null {
  if (noWaitReadFn !== undefined) return noWaitReadFn;
  noWaitReadFn = null;
  if (process.platform !== 'linux' || process.env['IGW_NO_NOWAIT_READ'] === '1') return null;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as {
      load(name: string): { func(sig: string): (...args: unknown[]) => number };
      struct(name: string, def: Record<string, string>): unknown;
    };
    const libc = koffi.load('libc.so.6');
    koffi.struct('igw_file_iovec', { base: 'void *', len: 'size_t' });
    const preadv2 = libc.func('intptr_t preadv2(int fd, const igw_file_iovec *iov, int iovcnt, int64_t offset, int flags)');
    noWaitReadFn = (fd, buf, pos) => preadv2(fd, { base: buf, len: buf.length }, 1, pos, RWF_NOWAIT);
  } catch {
    noWaitReadFn = null;
  }
  return noWaitReadFn;
}

export interface FileBackingStoreOptions {
  /** "pool/image", for logs and metrics (default: the path). */
  name?: string;
  readOnly?: boolean;
}

function ioError(op: 'read' | 'write' | 'other', what: string, err: unknown): BackstoreError {
  const e = err as NodeJS.ErrnoException;
  return new BackstoreError('ERR_BACKSTORE_IO', `${what}: ${e.code ?? e.message}`, op, { cause: err });
}

export class FileBackingStore implements BackingStore {
  readonly name: string;
  readonly path: string;
  private readonly handle: FileHandle;
  /** The handle's descriptor, used directly for pread/pwrite (half the per-call cost of FileHandle.read). */
  private readonly fd: number;
  /** Raw-fd operations in flight: close() waits for them so the fd number is never reused under them. */
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private size: number;
  private closed = false;
  private readonly sys: Posix | undefined;
  /** Set when the filesystem refused hole punching: discard writes zeroes instead. */
  private punchUnsupported = false;
  /** Set when the filesystem has no FIEMAP (tmpfs): mapAllocation walks with lseek instead. */
  private fiemapUnsupported = false;
  /** Reused FIEMAP request/reply buffer (calls are synchronous, so one per store suffices). */
  private fiemapBuf: Buffer | undefined;
  /** Small writes go through the thread pool until then (a synchronous one took too long). */
  private inlineAfter = 0;
  /** Absent when libc bindings are unavailable (no thin provisioning then). */
  readonly discard?: (offset: number, length: number) => Promise<void>;
  readonly mapAllocation?: (offset: number, length: number) => Promise<AllocationExtent[]>;

  private constructor(path: string, handle: FileHandle, size: number, opts: FileBackingStoreOptions) {
    this.path = path;
    this.name = opts.name ?? path;
    this.handle = handle;
    this.fd = handle.fd;
    this.size = size;
    this.sys = posix();
    if (this.sys !== undefined) {
      this.discard = async (offset, length) => {
        this.enter('write');
        try {
          await this.discardImpl(offset, length);
        } finally {
          this.leave();
        }
      };
      this.mapAllocation = (offset, length) => {
        try {
          this.enter('read');
        } catch (err) {
          return Promise.reject(err);
        }
        try {
          return Promise.resolve(this.mapAllocationSync(offset, length));
        } catch (err) {
          return Promise.reject(err);
        } finally {
          this.leave();
        }
      };
    }
  }

  /** Opens an existing image file. ERR_BACKSTORE_NOT_FOUND when absent. */
  static async open(path: string, opts: FileBackingStoreOptions = {}): Promise<FileBackingStore> {
    let handle: FileHandle;
    try {
      handle = await fsp.open(path, opts.readOnly === true ? 'r' : 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `image ${opts.name ?? path} does not exist`, 'other', { cause: err });
      }
      throw ioError('other', `cannot open ${path}`, err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new BackstoreError('ERR_BACKSTORE_INVALID', `${path} is not a regular file`);
      return new FileBackingStore(path, handle, st.size, opts);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err instanceof BackstoreError ? err : ioError('other', `cannot stat ${path}`, err);
    }
  }

  get sizeBytes(): number {
    return this.size;
  }

  read(offset: number, dest: Buffer): Promise<void> {
    const len = dest.length;
    if (len <= NOWAIT_READ_MAX && len > 0 && !this.closed) {
      const fast = noWaitRead();
      if (fast !== null) {
        let n = -1;
        try {
          n = fast(this.fd, dest, offset);
        } catch {
          noWaitReadFn = null; // the binding misbehaves: threadpool from now on
        }
        if (n === len) return RESOLVED;
        // Short, EAGAIN (not cached) or an error: the threadpool path reads it all again.
      }
    }
    return this.readAsync(offset, dest);
  }

  private async readAsync(offset: number, dest: Buffer): Promise<void> {
    this.enter('read');
    let done = 0;
    const len = dest.length;
    try {
      while (done < len) {
        const bytesRead = await this.pread(dest, done, len - done, offset + done);
        if (bytesRead === 0) {
          // Past the end of the file (shorter than the LU, e.g. truncated behind our back): zeroes.
          dest.fill(0, done);
          return;
        }
        done += bytesRead;
      }
    } catch (err) {
      throw ioError('read', `read ${this.name} at ${offset + done}`, err);
    } finally {
      this.leave();
    }
  }

  async write(offset: number, src: Buffer, fua?: boolean): Promise<void> {
    this.enter('write');
    let done = 0;
    const len = src.length;
    try {
      if (len <= INLINE_WRITE_MAX && fua !== true && INLINE_WRITES && performance.now() >= this.inlineAfter) {
        this.checkFence();
        const t0 = performance.now();
        while (done < len) done += fs.writeSync(this.fd, src, done, len - done, offset + done);
        const took = performance.now() - t0;
        if (took > INLINE_SLOW_MS) this.inlineAfter = t0 + took + INLINE_BACKOFF_MS;
        return;
      }
      while (done < len) {
        done += await this.pwrite(src, done, len - done, offset + done);
      }
      // SBC-4 "FUA": the write completes only when the data is on the medium.
      if (fua === true) await this.fdatasync();
    } catch (err) {
      if (err instanceof BackstoreError) throw err; // fenced: not an I/O error of the medium
      throw ioError('write', `write ${this.name} at ${offset + done}`, err);
    } finally {
      this.leave();
    }
  }

  async flush(): Promise<void> {
    this.enter('write');
    try {
      await this.fdatasync();
    } catch (err) {
      throw ioError('write', `flush ${this.name}`, err);
    } finally {
      this.leave();
    }
  }

  private enter(op: 'read' | 'write' | 'other'): void {
    if (this.closed) throw new BackstoreError('ERR_BACKSTORE_IO', `${this.name} is closed`, op);
    this.inFlight++;
  }

  private leave(): void {
    if (--this.inFlight === 0 && this.drained !== undefined) this.drained();
  }

  private pread(buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return new Promise((resolve, reject) => {
      fs.read(this.fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  fence: (() => boolean) | undefined;

  /** Throws (LOCK_LOST, not a medium error) when the HA lease that fences writes has lapsed. */
  private checkFence(): void {
    if (this.fence !== undefined && !this.fence()) {
      throw new BackstoreError('ERR_BACKSTORE_LOCK_LOST', `${this.name}: HA lease lapsed, write not applied`);
    }
  }

  private pwrite(buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.checkFence();
      fs.write(this.fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  private fdatasync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve()));
    });
  }

  async writeSame(offset: number, length: number, pattern: Buffer): Promise<void> {
    if (length <= 0) return;
    if (pattern.length === 0) throw new BackstoreError('ERR_BACKSTORE_INVALID', 'writeSame: empty pattern', 'write');
    // One buffer holding the pattern repeated, a whole number of times, up to 1 MiB.
    const reps = Math.max(1, Math.floor(Math.min(WRITE_SAME_CHUNK, length) / pattern.length));
    const chunk = Buffer.allocUnsafe(reps * pattern.length);
    for (let i = 0; i < reps; i++) pattern.copy(chunk, i * pattern.length);
    let pos = 0;
    while (pos < length) {
      const n = Math.min(chunk.length, length - pos);
      await this.write(offset + pos, n === chunk.length ? chunk : chunk.subarray(0, n));
      pos += n;
    }
  }

  private async discardImpl(offset: number, length: number): Promise<void> {
    if (length <= 0) return;
    const sys = this.sys;
    if (sys !== undefined && !this.punchUnsupported) {
      try {
        await sys.punchHole(this.fd, offset, length);
        return;
      } catch (err) {
        if (!(err instanceof PosixError && err.errno === EOPNOTSUPP)) {
          throw ioError('write', `discard ${this.name} at ${offset}`, err);
        }
        // Filesystem without hole punching (e.g. some network filesystems): write zeroes.
        this.punchUnsupported = true;
      }
    }
    await this.writeSame(offset, length, Buffer.alloc(512));
  }

  /**
   * Extents of [offset, offset+length), at filesystem-block granularity (4 KiB on
   * ext4/xfs). FIEMAP returns up to 512 extents per ioctl (~40 µs for a fully
   * fragmented 1 MiB range); where the filesystem has no FIEMAP, SEEK_DATA/SEEK_HOLE
   * walk it with two syscalls per extent. Delayed-allocation extents (written, not
   * yet flushed) and unwritten (preallocated) extents count as mapped.
   */
  private mapAllocationSync(offset: number, length: number): AllocationExtent[] {
    const sys = this.sys;
    if (sys === undefined || length <= 0) return length > 0 ? [{ offset, length, allocated: true }] : [];
    const out: AllocationExtent[] = [];
    if (!this.fiemapUnsupported) {
      try {
        this.fiemapWalk(sys, offset, length, out);
        return out;
      } catch (err) {
        if (!(err instanceof PosixError)) throw err;
        // EOPNOTSUPP (tmpfs), ENOTTY, EINVAL...: use lseek from now on.
        this.fiemapUnsupported = true;
        out.length = 0;
      }
    }
    this.seekWalk(sys, offset, length, out);
    return out;
  }

  private fiemapWalk(sys: Posix, offset: number, length: number, out: AllocationExtent[]): void {
    const end = offset + length;
    const buf = (this.fiemapBuf ??= Buffer.alloc(FIEMAP_HEADER_SIZE + FIEMAP_BATCH * FIEMAP_EXTENT_SIZE));
    let cursor = offset;
    for (;;) {
      // struct fiemap header (linux/fiemap.h); u64 fields written as two u32 (offsets < 2^53).
      writeU64(buf, 0, cursor); // fm_start
      writeU64(buf, 8, end - cursor); // fm_length
      buf.writeUInt32LE(0, 16); // fm_flags: no FIEMAP_FLAG_SYNC (delalloc extents are reported anyway)
      buf.writeUInt32LE(0, 20); // fm_mapped_extents (out)
      buf.writeUInt32LE(FIEMAP_BATCH, 24); // fm_extent_count
      buf.writeUInt32LE(0, 28); // fm_reserved
      const n = sys.fiemap(this.fd, buf);
      let last = true;
      for (let i = 0; i < n; i++) {
        const base = FIEMAP_HEADER_SIZE + i * FIEMAP_EXTENT_SIZE;
        const logical = readU64(buf, base); // fe_logical
        const len = readU64(buf, base + 16); // fe_length
        const flags = buf.readUInt32LE(base + 40); // fe_flags
        last = (flags & FIEMAP_EXTENT_LAST) !== 0;
        const s = Math.max(logical, cursor);
        const e = Math.min(logical + len, end);
        if (e <= s) continue;
        pushExtent(out, cursor, s, false);
        pushExtent(out, s, e, true);
        cursor = e;
        if (cursor >= end) break;
      }
      if (cursor >= end) return;
      if (n < FIEMAP_BATCH || last) {
        pushExtent(out, cursor, end, false);
        return;
      }
    }
  }

  private seekWalk(sys: Posix, offset: number, length: number, out: AllocationExtent[]): void {
    const end = offset + length;
    const push = (start: number, stop: number, allocated: boolean): void => pushExtent(out, start, stop, allocated);
    let pos = offset;
    try {
      while (pos < end) {
        const data = sys.seek(this.fd, pos, SEEK_DATA);
        if (data < 0 || data >= end) {
          push(pos, end, false);
          break;
        }
        push(pos, data, false);
        let hole = sys.seek(this.fd, data, SEEK_HOLE);
        if (hole < 0) hole = end; // cannot happen (EOF is a hole), be safe
        const stop = Math.min(hole, end);
        push(data, stop, true);
        pos = stop;
      }
    } catch (err) {
      throw ioError('read', `map allocation of ${this.name} at ${pos}`, err);
    }
  }

  async resize(sizeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid size ${sizeBytes}`);
    }
    try {
      await this.handle.truncate(sizeBytes);
    } catch (err) {
      throw ioError('other', `resize ${this.name}`, err);
    }
    this.size = sizeBytes;
  }

  /** Re-reads the file size (another process resized the image). Returns the new size. */
  async refreshSize(): Promise<number> {
    try {
      const st = await this.handle.stat();
      this.size = st.size;
    } catch (err) {
      throw ioError('other', `stat ${this.name}`, err);
    }
    return this.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    try {
      await this.handle.close();
    } catch (err) {
      throw ioError('other', `close ${this.name}`, err);
    }
  }
}

/** Appends [start, stop) to `out`, merging with the previous extent when contiguous and alike. */
function pushExtent(out: AllocationExtent[], start: number, stop: number, allocated: boolean): void {
  if (stop <= start) return;
  const last = out[out.length - 1];
  if (last !== undefined && last.allocated === allocated && last.offset + last.length === start) {
    last.length += stop - start;
  } else {
    out.push({ offset: start, length: stop - start, allocated });
  }
}

function writeU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000, at);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}
