/**
 * FFI declarations of librados.so.2 and librbd.so.1 (Debian librados2 / librbd1), through
 * koffi. Declarations only: rados.ts and image.ts hold the logic. Loaded on first use, so a
 * machine without the libraries runs every other backstore; a missing library is an error that
 * names the package to install.
 *
 * Pointers (rados_t, rados_ioctx_t, rbd_image_t, rbd_completion_t) are BigInts in koffi 3.
 * Out-parameters that are written later (completions, mismatch offsets) are declared `void *`
 * and passed a caller-owned typed array, so nothing is allocated per call.
 */
import { createRequire } from 'node:module';
import { BackstoreError } from '../backstore.js';

export type Ptr = bigint;
type Fn<A extends unknown[], R> = ((...args: A) => R) & { async(...args: [...A, (err: unknown, res: R) => void]): void };

export interface Librados {
  rados_create2: Fn<[Ptr[], string, string, number], number>;
  rados_conf_read_file: Fn<[Ptr, string], number>;
  rados_conf_set: Fn<[Ptr, string, string], number>;
  rados_connect: Fn<[Ptr], number>;
  rados_shutdown: Fn<[Ptr], void>;
  rados_cluster_fsid: Fn<[Ptr, Buffer, number], number>;
  rados_pool_list: Fn<[Ptr, Buffer | null, number], number>;
  rados_pool_lookup: Fn<[Ptr, string], bigint | number>;
  rados_ioctx_create: Fn<[Ptr, string, Ptr[]], number>;
  rados_ioctx_destroy: Fn<[Ptr], void>;
  rados_mon_command: Fn<[Ptr, string[], number, Buffer | null, number, Ptr[], number[], Ptr[], number[]], number>;
  rados_buffer_free: Fn<[Ptr], void>;
  rados_read: Fn<[Ptr, string, Buffer, number, number], number>;
  rados_stat: Fn<[Ptr, string, number[], number[]], number>;
  rados_write_full: Fn<[Ptr, string, Buffer, number], number>;
  rados_getxattr: Fn<[Ptr, string, string, Buffer, number], number>;
  rados_setxattr: Fn<[Ptr, string, string, Buffer, number], number>;
  rados_create_write_op: Fn<[], Ptr>;
  rados_write_op_create: Fn<[Ptr, number, string | null], void>;
  rados_write_op_cmpxattr: Fn<[Ptr, string, number, Buffer, number], void>;
  rados_write_op_write_full: Fn<[Ptr, Buffer, number], void>;
  rados_write_op_setxattr: Fn<[Ptr, string, Buffer, number], void>;
  rados_write_op_operate: Fn<[Ptr, Ptr, string, Ptr | null, number], number>;
  rados_release_write_op: Fn<[Ptr], void>;
  rados_lock_exclusive: Fn<[Ptr, string, string, string, string, { tv_sec: number; tv_usec: number } | null, number], number>;
  rados_unlock: Fn<[Ptr, string, string, string], number>;
  rados_watch2: Fn<[Ptr, string, number[], Ptr, Ptr, Ptr | null], number>;
  rados_unwatch2: Fn<[Ptr, number | bigint], number>;
  rados_watch_check: Fn<[Ptr, number | bigint], number>;
  rados_notify2: Fn<[Ptr, string, Buffer, number, number, Ptr[], number[]], number>;
  rados_notify_ack: Fn<[Ptr, string, number | bigint, number | bigint, Buffer | null, number], number>;
  rados_getaddrs: Fn<[Ptr, Ptr[]], number>;
  rados_get_instance_id: Fn<[Ptr], bigint | number>;
  rados_cct: Fn<[Ptr], Ptr>;
  rados_create_with_context: Fn<[Ptr[], Ptr], number>;
  rados_service_register: Fn<[Ptr, string, string, Buffer], number>;
  rados_service_update_status: Fn<[Ptr, Buffer], number>;
  rados_mgr_command: Fn<[Ptr, string[], number, Buffer | null, number, Ptr[], number[], Ptr[], number[]], number>;
}

export interface Librbd {
  rbd_create2: Fn<[Ptr, string, number, number, number[]], number>;
  rbd_open: Fn<[Ptr, string, Ptr[], string | null], number>;
  rbd_open_read_only: Fn<[Ptr, string, Ptr[], string | null], number>;
  rbd_close: Fn<[Ptr], number>;
  rbd_get_size: Fn<[Ptr, number[]], number>;
  rbd_get_features: Fn<[Ptr, number[]], number>;
  rbd_get_id: Fn<[Ptr, Buffer, number], number>;
  rbd_resize: Fn<[Ptr, number], number>;
  rbd_remove: Fn<[Ptr, string], number>;
  rbd_list: Fn<[Ptr, Buffer | null, number[]], number>;
  rbd_snap_create: Fn<[Ptr, string], number>;
  rbd_snap_remove: Fn<[Ptr, string], number>;
  rbd_snap_rollback: Fn<[Ptr, string], number>;
  rbd_snap_list: Fn<[Ptr, Buffer, number[]], number>;
  rbd_snap_list_end: Fn<[Buffer], void>;
  rbd_metadata_get: Fn<[Ptr, string, Buffer, number[]], number>;
  rbd_metadata_set: Fn<[Ptr, string, string], number>;
  rbd_lock_acquire: Fn<[Ptr, number], number>;
  rbd_is_exclusive_lock_owner: Fn<[Ptr, number[]], number>;
  rbd_lock_get_owners: Fn<[Ptr, number[], Buffer, number[]], number>;
  rbd_lock_get_owners_cleanup: Fn<[Buffer, number], void>;
  rbd_lock_break: Fn<[Ptr, number, string], number>;
  rbd_lock_release: Fn<[Ptr], number>;
  rbd_aio_create_completion: Fn<[Ptr | null, Ptr | null, BigUint64Array], number>;
  rbd_aio_release: Fn<[Ptr], void>;
  rbd_aio_get_return_value: Fn<[Ptr], bigint | number>;
  rbd_aio_wait_for_complete: Fn<[Ptr], number>;
  rbd_aio_is_complete: Fn<[Ptr], number>;
  rbd_aio_open: Fn<[Ptr, string, Buffer, string | null, Ptr], number>;
  rbd_aio_read: Fn<[Ptr, number, number, Buffer, Ptr], number>;
  rbd_aio_write: Fn<[Ptr, number, number, Buffer, Ptr], number>;
  rbd_aio_flush: Fn<[Ptr, Ptr], number>;
  rbd_aio_discard: Fn<[Ptr, number, number, Ptr], number>;
  rbd_aio_writesame: Fn<[Ptr, number, number, Buffer, number, Ptr, number], number>;
  rbd_aio_write_zeroes: Fn<[Ptr, number, number, Ptr, number, number], number>;
  rbd_aio_compare_and_write: Fn<[Ptr, number, number, Buffer, Buffer, Ptr, BigUint64Array, number], number>;
  rbd_set_image_notification: Fn<[Ptr, number, number], number>;
  rbd_diff_iterate2: Fn<[Ptr, string | null, number, number, number, number, Ptr, Ptr | null], number>;
  rbd_poll_io_events: Fn<[Ptr, BigUint64Array, number], number>;
}

export interface Libc {
  pipe2: Fn<[Int32Array, number], number>;
  close: Fn<[number], number>;
}

/** The koffi module surface we use. */
export interface Koffi {
  load(name: string): { func(sig: string): unknown };
  struct(name: string, def: Record<string, string>): unknown;
  proto(sig: string): unknown;
  pointer(t: unknown): unknown;
  register(fn: (...args: never[]) => unknown, type: unknown): Ptr;
  unregister(p: Ptr): void;
  view(p: Ptr, len: number): ArrayBuffer;
  decode(p: unknown, type: string, len?: number): unknown;
}

export interface Bindings {
  koffi: Koffi;
  rados: Librados;
  rbd: Librbd;
  libc: Libc;
  /** koffi callback types for rados_watch2 and rbd_diff_iterate2. */
  watchCb: unknown;
  watchErrCb: unknown;
  diffCb: unknown;
}

const RADOS_SIGS: Record<keyof Librados, string> = {
  rados_create2: 'int rados_create2(_Out_ void **cluster, const char *clustername, const char *name, uint64_t flags)',
  rados_conf_read_file: 'int rados_conf_read_file(void *cluster, const char *path)',
  rados_conf_set: 'int rados_conf_set(void *cluster, const char *option, const char *value)',
  rados_connect: 'int rados_connect(void *cluster)',
  rados_shutdown: 'void rados_shutdown(void *cluster)',
  rados_cluster_fsid: 'int rados_cluster_fsid(void *cluster, void *buf, size_t len)',
  rados_pool_list: 'int rados_pool_list(void *cluster, void *buf, size_t len)',
  rados_pool_lookup: 'int64_t rados_pool_lookup(void *cluster, const char *name)',
  rados_ioctx_create: 'int rados_ioctx_create(void *cluster, const char *pool, _Out_ void **ioctx)',
  rados_ioctx_destroy: 'void rados_ioctx_destroy(void *io)',
  rados_mon_command:
    'int rados_mon_command(void *cluster, const char **cmd, size_t cmdlen, const void *inbuf, size_t inbuflen, _Out_ void **outbuf, _Out_ size_t *outbuflen, _Out_ void **outs, _Out_ size_t *outslen)',
  rados_buffer_free: 'void rados_buffer_free(void *buf)',
  rados_read: 'int rados_read(void *io, const char *oid, void *buf, size_t len, uint64_t off)',
  rados_stat: 'int rados_stat(void *io, const char *oid, _Out_ uint64_t *psize, _Out_ int64_t *pmtime)',
  rados_write_full: 'int rados_write_full(void *io, const char *oid, const void *buf, size_t len)',
  rados_getxattr: 'int rados_getxattr(void *io, const char *oid, const char *name, void *buf, size_t len)',
  rados_setxattr: 'int rados_setxattr(void *io, const char *oid, const char *name, const void *buf, size_t len)',
  rados_create_write_op: 'void *rados_create_write_op()',
  rados_write_op_create: 'void rados_write_op_create(void *op, int exclusive, const char *category)',
  rados_write_op_cmpxattr:
    'void rados_write_op_cmpxattr(void *op, const char *name, uint8_t comparison_operator, const void *value, size_t value_len)',
  rados_write_op_write_full: 'void rados_write_op_write_full(void *op, const void *buffer, size_t len)',
  rados_write_op_setxattr: 'void rados_write_op_setxattr(void *op, const char *name, const void *value, size_t value_len)',
  rados_write_op_operate: 'int rados_write_op_operate(void *op, void *io, const char *oid, void *mtime, int flags)',
  rados_release_write_op: 'void rados_release_write_op(void *op)',
  rados_lock_exclusive:
    'int rados_lock_exclusive(void *io, const char *oid, const char *name, const char *cookie, const char *desc, igw_timeval *duration, uint8_t flags)',
  rados_unlock: 'int rados_unlock(void *io, const char *oid, const char *name, const char *cookie)',
  rados_watch2: 'int rados_watch2(void *io, const char *o, _Out_ uint64_t *cookie, void *watchcb, void *watcherrcb, void *arg)',
  rados_unwatch2: 'int rados_unwatch2(void *io, uint64_t cookie)',
  rados_watch_check: 'int rados_watch_check(void *io, uint64_t cookie)',
  rados_notify2:
    'int rados_notify2(void *io, const char *o, const void *buf, int buf_len, uint64_t timeout_ms, _Out_ void **reply_buffer, _Out_ size_t *reply_buffer_len)',
  rados_notify_ack: 'int rados_notify_ack(void *io, const char *o, uint64_t notify_id, uint64_t cookie, const void *buf, int buf_len)',
  rados_getaddrs: 'int rados_getaddrs(void *cluster, _Out_ void **addrs)',
  rados_get_instance_id: 'uint64_t rados_get_instance_id(void *cluster)',
  rados_cct: 'void *rados_cct(void *cluster)',
  rados_create_with_context: 'int rados_create_with_context(_Out_ void **cluster, void *cct)',
  rados_service_register: 'int rados_service_register(void *cluster, const char *service, const char *daemon, const void *metadata_dict)',
  rados_service_update_status: 'int rados_service_update_status(void *cluster, const void *status_dict)',
  rados_mgr_command:
    'int rados_mgr_command(void *cluster, const char **cmd, size_t cmdlen, const void *inbuf, size_t inbuflen, _Out_ void **outbuf, _Out_ size_t *outbuflen, _Out_ void **outs, _Out_ size_t *outslen)',
};

const RBD_SIGS: Record<keyof Librbd, string> = {
  rbd_create2: 'int rbd_create2(void *io, const char *name, uint64_t size, uint64_t features, _Inout_ int *order)',
  rbd_open: 'int rbd_open(void *io, const char *name, _Out_ void **image, const char *snap_name)',
  rbd_open_read_only: 'int rbd_open_read_only(void *io, const char *name, _Out_ void **image, const char *snap_name)',
  rbd_close: 'int rbd_close(void *image)',
  rbd_get_size: 'int rbd_get_size(void *image, _Out_ uint64_t *size)',
  rbd_get_features: 'int rbd_get_features(void *image, _Out_ uint64_t *features)',
  rbd_get_id: 'int rbd_get_id(void *image, void *id, size_t id_len)',
  rbd_resize: 'int rbd_resize(void *image, uint64_t size)',
  rbd_remove: 'int rbd_remove(void *io, const char *name)',
  rbd_list: 'int rbd_list(void *io, void *names, _Inout_ size_t *size)',
  rbd_snap_create: 'int rbd_snap_create(void *image, const char *snapname)',
  rbd_snap_remove: 'int rbd_snap_remove(void *image, const char *snapname)',
  rbd_snap_rollback: 'int rbd_snap_rollback(void *image, const char *snapname)',
  rbd_snap_list: 'int rbd_snap_list(void *image, void *snaps, _Inout_ int *max_snaps)',
  rbd_snap_list_end: 'void rbd_snap_list_end(void *snaps)',
  rbd_metadata_get: 'int rbd_metadata_get(void *image, const char *key, void *value, _Inout_ size_t *val_len)',
  rbd_metadata_set: 'int rbd_metadata_set(void *image, const char *key, const char *value)',
  rbd_lock_acquire: 'int rbd_lock_acquire(void *image, int lock_mode)',
  rbd_is_exclusive_lock_owner: 'int rbd_is_exclusive_lock_owner(void *image, _Out_ int *is_owner)',
  rbd_lock_get_owners: 'int rbd_lock_get_owners(void *image, _Out_ int *lock_mode, void *lock_owners, _Inout_ size_t *max_lock_owners)',
  rbd_lock_get_owners_cleanup: 'void rbd_lock_get_owners_cleanup(void *lock_owners, size_t lock_owner_count)',
  rbd_lock_break: 'int rbd_lock_break(void *image, int lock_mode, const char *lock_owner)',
  rbd_lock_release: 'int rbd_lock_release(void *image)',
  rbd_aio_create_completion: 'int rbd_aio_create_completion(void *cb_arg, void *complete_cb, void *c)',
  rbd_aio_release: 'void rbd_aio_release(void *c)',
  rbd_aio_get_return_value: 'int64_t rbd_aio_get_return_value(void *c)',
  rbd_aio_wait_for_complete: 'int rbd_aio_wait_for_complete(void *c)',
  rbd_aio_is_complete: 'int rbd_aio_is_complete(void *c)',
  rbd_aio_open: 'int rbd_aio_open(void *io, const char *name, void *image, const char *snap_name, void *c)',
  rbd_aio_read: 'int rbd_aio_read(void *image, uint64_t off, size_t len, void *buf, void *c)',
  rbd_aio_write: 'int rbd_aio_write(void *image, uint64_t off, size_t len, const void *buf, void *c)',
  rbd_aio_flush: 'int rbd_aio_flush(void *image, void *c)',
  rbd_aio_discard: 'int rbd_aio_discard(void *image, uint64_t off, uint64_t len, void *c)',
  rbd_aio_writesame: 'int rbd_aio_writesame(void *image, uint64_t off, size_t len, const void *buf, size_t data_len, void *c, int op_flags)',
  rbd_aio_write_zeroes: 'int rbd_aio_write_zeroes(void *image, uint64_t off, size_t len, void *c, int zero_flags, int op_flags)',
  rbd_aio_compare_and_write:
    'int rbd_aio_compare_and_write(void *image, uint64_t off, size_t len, const void *cmp_buf, const void *buf, void *c, void *mismatch_off, int op_flags)',
  rbd_set_image_notification: 'int rbd_set_image_notification(void *image, int fd, int type)',
  rbd_diff_iterate2:
    'int rbd_diff_iterate2(void *image, const char *fromsnapname, uint64_t ofs, uint64_t len, uint8_t include_parent, uint8_t whole_object, void *cb, void *arg)',
  rbd_poll_io_events: 'int rbd_poll_io_events(void *image, void *comps, int numcomp)',
};

let cached: Bindings | undefined;

export function loadLib(koffi: Koffi, soname: string, pkg: string): { func(sig: string): unknown } {
  try {
    return koffi.load(soname);
  } catch (err) {
    throw new BackstoreError(
      'ERR_BACKSTORE_NOT_SUPPORTED',
      `cannot load ${soname} (${(err as Error).message}); install the Debian package ${pkg} (apt-get install ${pkg})`,
      'other',
      { cause: err },
    );
  }
}

/** Loads koffi, librados and librbd once. Throws ERR_BACKSTORE_NOT_SUPPORTED naming librados2/librbd1. */
export function bindings(): Bindings {
  if (cached !== undefined) return cached;
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    throw new BackstoreError('ERR_BACKSTORE_NOT_SUPPORTED', `the rbd backstore needs the koffi package (npm ci): ${(err as Error).message}`, 'other', { cause: err });
  }
  const radosLib = loadLib(koffi, 'librados.so.2', 'librados2');
  const rbdLib = loadLib(koffi, 'librbd.so.1', 'librbd1');
  const libcLib = loadLib(koffi, 'libc.so.6', 'libc6');
  koffi.struct('igw_timeval', { tv_sec: 'long', tv_usec: 'long' });
  const watchCb = koffi.pointer(
    koffi.proto('void igw_rados_watchcb2(void *arg, uint64_t notify_id, uint64_t handle, uint64_t notifier_id, void *data, size_t data_len)'),
  );
  const watchErrCb = koffi.pointer(koffi.proto('void igw_rados_watcherrcb(void *pre, uint64_t cookie, int err)'));
  const diffCb = koffi.pointer(koffi.proto('int igw_rbd_diff_cb(uint64_t off, size_t len, int exists, void *arg)'));
  const bind = <T>(lib: { func(sig: string): unknown }, sigs: Record<string, string>): T => {
    const out: Record<string, unknown> = {};
    for (const [name, sig] of Object.entries(sigs)) out[name] = lib.func(sig);
    return out as T;
  };
  cached = {
    koffi,
    rados: bind<Librados>(radosLib, RADOS_SIGS),
    rbd: bind<Librbd>(rbdLib, RBD_SIGS),
    libc: bind<Libc>(libcLib, { pipe2: 'int pipe2(void *fds, int flags)', close: 'int close(int fd)' }),
    watchCb,
    watchErrCb,
    diffCb,
  };
  return cached;
}

/** Calls `fn.async(...args)` and resolves with its return value (libuv threadpool: never blocks the loop). */
export function callAsync<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): Promise<R> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, res: R) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)));
  });
}

// librbd constants (librbd.h)
export const RBD_FEATURE_LAYERING = 1;
export const RBD_FEATURE_EXCLUSIVE_LOCK = 4;
export const RBD_FEATURE_OBJECT_MAP = 8;
export const RBD_FEATURE_FAST_DIFF = 16;
export const RBD_FEATURE_DEEP_FLATTEN = 32;
export const RBD_FEATURE_JOURNALING = 64;
export const RBD_FEATURE_MIGRATING = 512;
export const RBD_FEATURE_NON_PRIMARY = 1024;
/** What ceph-iscsi gives new images (lun.py RBDDev.default_features). */
export const DEFAULT_FEATURES =
  RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK | RBD_FEATURE_OBJECT_MAP | RBD_FEATURE_FAST_DIFF | RBD_FEATURE_DEEP_FLATTEN;
export const RBD_LOCK_MODE_EXCLUSIVE = 0;
export const EVENT_TYPE_PIPE = 1;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const LIBRADOS_CREATE_EXCLUSIVE = 1;
/** rados_write_op_cmpxattr comparison_operator: equal (librados.h LIBRADOS_CMPXATTR_OP_EQ). */
export const LIBRADOS_CMPXATTR_OP_EQ = 1;

// errno values that callers test for (Linux)
export const ENOENT = 2;
export const EEXIST = 17;
export const EBUSY = 16;
export const ERANGE = 34;
export const EILSEQ = 84;
export const ETIMEDOUT = 110;
export const EROFS = 30;
export const ECANCELED = 125;

/** strerror for the errnos librados/librbd return, for messages. */
export function errnoName(rc: number): string {
  const n = -rc;
  const names: Record<number, string> = {
    1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 22: 'EINVAL',
    28: 'ENOSPC', 30: 'EROFS', 34: 'ERANGE', 38: 'ENOSYS', 39: 'ENOTEMPTY', 84: 'EILSEQ', 95: 'EOPNOTSUPP', 107: 'ENOTCONN',
    108: 'ESHUTDOWN', 110: 'ETIMEDOUT', 122: 'EDQUOT', 125: 'ECANCELED',
  };
  return `${names[n] ?? 'errno'} (${rc})`;
}
