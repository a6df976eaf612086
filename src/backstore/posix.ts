/**
 * The few libc calls Node does not expose, through koffi (FFI, prebuilt):
 * fallocate(2) to punch holes (UNMAP), lseek(2) SEEK_DATA/SEEK_HOLE to map
 * allocation (GET LBA STATUS). Linux/glibc only: on any other platform, or if
 * libc cannot be loaded, `posix()` returns undefined and callers fall back
 * (no thin provisioning, everything reported as mapped).
 */
import { createRequire } from 'node:module';

/** fallocate(2) mode bits (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** lseek(2) whence values (linux/fs.h). */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

export const ENXIO = 6;

/** FS_IOC_FIEMAP = _IOWR('f', 11, struct fiemap) (linux/fs.h, linux/fiemap.h). */
export const FS_IOC_FIEMAP = 0xc020660b;
/** struct fiemap header: fm_start u64, fm_length u64, fm_flags u32, fm_mapped_extents u32, fm_extent_count u32, fm_reserved u32. */
export const FIEMAP_HEADER_SIZE = 32;
/** struct fiemap_extent: fe_logical u64, fe_physical u64, fe_length u64, reserved u64[2], fe_flags u32, reserved u32[3]. */
export const FIEMAP_EXTENT_SIZE = 56;
export const FIEMAP_EXTENT_LAST = 0x1;

export class PosixError extends Error {
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number) {
    super(`${syscall} failed: errno ${errno}`);
    this.errno = errno;
    this.syscall = syscall;
  }
}

export interface Posix {
  /** fallocate(fd, mode, offset, len) on a libuv-like worker thread (big punches do not block the loop). */
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<void>;
  /** Punches a hole, keeping the file size: later reads return zeroes. */
  punchHole(fd: number, offset: number, length: number): Promise<void>;
  /**
   * lseek(fd, offset, SEEK_DATA|SEEK_HOLE), synchronous (a few µs, no I/O).
   * Returns the resulting offset, or -1 when there is no data/hole at or after
   * `offset` (ENXIO). Other errors throw PosixError.
   */
  seek(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE): number;
  /**
   * ioctl(fd, FS_IOC_FIEMAP, buf), synchronous: one call maps many extents (the
   * caller fills the header in `buf` and reads the extents back). Returns
   * fm_mapped_extents. Filesystems without FIEMAP (tmpfs) throw PosixError
   * EOPNOTSUPP/ENOTTY: fall back to seek().
   */
  fiemap(fd: number, buf: Buffer): number;
}

type AsyncFn = ((...args: unknown[]) => number) & { async: (...args: unknown[]) => void };

interface KoffiLike {
  load(name: string): { func(sig: string): AsyncFn };
  errno(): number;
}

let cached: Posix | null | undefined;

/** The libc bindings, or undefined where they cannot be loaded. */
export function posix(): Posix | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (process.platform !== 'linux') return undefined;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as KoffiLike;
    const libc = koffi.load('libc.so.6');
    const fallocateFn = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
    const lseekFn = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
    // ioctl(2) is variadic: declared so, and called with the argument's type.
    const ioctlFn = libc.func('int ioctl(int fd, unsigned long request, ...)');

    const fallocate = (fd: number, mode: number, offset: number, length: number): Promise<void> =>
      new Promise((resolve, reject) => {
        fallocateFn.async(fd, mode, offset, length, (err: unknown, res: number) => {
          if (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          if (res === 0) {
            resolve();
            return;
          }
          // koffi carries errno back from the worker thread; if it did not, redo the call
          // synchronously (punching/zeroing is idempotent) to learn the reason.
          let e = koffi.errno();
          if (e === 0) {
            const again = fallocateFn(fd, mode, offset, length);
            if (again === 0) {
              resolve();
              return;
            }
            e = koffi.errno();
          }
          reject(new PosixError('fallocate', e));
        });
      });

    cached = {
      fallocate,
      punchHole: (fd, offset, length) => fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length),
      seek(fd, offset, whence) {
        const r = Number(lseekFn(fd, offset, whence));
        if (r >= 0) return r;
        const e = koffi.errno();
        if (e === ENXIO) return -1;
        throw new PosixError('lseek', e);
      },
      fiemap(fd, buf) {
        const r = ioctlFn(fd, FS_IOC_FIEMAP, 'uint8_t *', buf);
        if (r !== 0) throw new PosixError('ioctl(FS_IOC_FIEMAP)', koffi.errno());
        return buf.readUInt32LE(20);
      },
    };
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}
