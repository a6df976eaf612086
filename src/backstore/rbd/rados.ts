/**
 * A librados cluster connection: connect as `cluster_client_name` with
 * `<ceph_config_dir>/<cluster_name>.conf` (and `<cluster>.<name>.keyring` there when present),
 * I/O contexts per pool, mon commands (JSON), and the object operations the RADOS config store
 * needs (read, write_full, exclusive create, xattrs, advisory locks, watch/notify).
 *
 * Every call that can wait on the cluster goes through koffi's `.async()` (libuv threadpool),
 * never synchronously on the event loop; the op timeouts below bound how long it can wait.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BackstoreError, type BackstoreErrorCode } from '../backstore.js';
import {
  bindings,
  callAsync,
  errnoName,
  ECANCELED,
  EEXIST,
  ENOENT,
  ERANGE,
  LIBRADOS_CMPXATTR_OP_EQ,
  LIBRADOS_CREATE_EXCLUSIVE,
  type Bindings,
  type Ptr,
} from './librbd.js';

export interface RadosConnectOptions {
  /** settings.cluster_name (default "ceph"). */
  clusterName?: string;
  /** settings.cluster_client_name (default "client.admin"). */
  clientName?: string;
  /** settings.ceph_config_dir (default "/etc/ceph"). */
  configDir?: string;
  /** Seconds for rados_osd_op_timeout / rados_mon_op_timeout / client_mount_timeout (default 30). */
  timeoutSec?: number;
  /** Extra ceph options (tests). */
  options?: Record<string, string>;
}

/** A librados failure with its errno (negative), as a BackstoreError. */
export class RadosError extends BackstoreError {
  readonly rc: number;
  constructor(what: string, rc: number, code?: BackstoreErrorCode) {
    super(code ?? (rc === -ENOENT ? 'ERR_BACKSTORE_NOT_FOUND' : rc === -EEXIST ? 'ERR_BACKSTORE_EXISTS' : 'ERR_BACKSTORE_IO'), `${what}: ${errnoName(rc)}`);
    this.rc = rc;
  }
}

export function check(what: string, rc: number | bigint): number {
  const n = Number(rc);
  if (n < 0) throw new RadosError(what, n);
  return n;
}

/** A mon command's reply. */
export interface MonReply {
  rc: number;
  /** The output buffer (JSON when format=json). */
  out: string;
  /** The status string (error text). */
  status: string;
}

/** One watch on an object: `onNotify` runs on the event loop; `onError` when the watch broke. */
export interface WatchHandle {
  /** The watch cookie (as notify replies name the watchers, with the client's instance id). */
  readonly cookie: bigint;
  close(): Promise<void>;
}

/** One watcher in a notify reply: client instance id (`client.<gid>`) and watch cookie. */
export interface NotifyWatcher {
  gid: bigint;
  cookie: bigint;
}

/** What rados_notify2 reports: rc (-ETIMEDOUT when some watcher did not ack), who acked, who timed out. */
export interface NotifyReply {
  rc: number;
  acks: NotifyWatcher[];
  timeouts: NotifyWatcher[];
}

export class RadosCluster {
  readonly b: Bindings;
  readonly handle: Ptr;
  readonly clusterName: string;
  readonly clientName: string;
  private readonly ioctxs = new Map<string, Promise<Ptr>>();
  private closed = false;

  private constructor(b: Bindings, handle: Ptr, clusterName: string, clientName: string) {
    this.b = b;
    this.handle = handle;
    this.clusterName = clusterName;
    this.clientName = clientName;
  }

  /** Connects; errors name the conf file and the client, never the key. */
  static async connect(opts: RadosConnectOptions = {}): Promise<RadosCluster> {
    const b = bindings();
    const clusterName = opts.clusterName ?? 'ceph';
    const clientName = opts.clientName ?? 'client.admin';
    const dir = opts.configDir ?? '/etc/ceph';
    const conf = join(dir, `${clusterName}.conf`);
    if (!existsSync(conf)) {
      throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `Ceph configuration ${conf} not found (settings ceph_config_dir and cluster_name)`);
    }
    if (!/^[a-z]+\.[A-Za-z0-9_.-]+$/.test(clientName)) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `cluster_client_name "${clientName}" is not of the form client.<id>`);
    }
    const out: Ptr[] = [0n];
    check(`rados_create2(${clientName})`, b.rados.rados_create2(out, clusterName, clientName, 0));
    const h = out[0]!;
    const fail = (what: string, rc: number): never => {
      b.rados.rados_shutdown(h);
      throw new RadosError(what, rc);
    };
    let rc = await callAsync(b.rados.rados_conf_read_file, h, conf);
    if (rc < 0) fail(`cannot read ${conf}`, rc);
    const keyring = join(dir, `${clusterName}.${clientName}.keyring`);
    if (existsSync(keyring)) {
      rc = b.rados.rados_conf_set(h, 'keyring', keyring);
      if (rc < 0) fail('cannot set keyring', rc);
    }
    const t = String(opts.timeoutSec ?? 30);
    const settings: Record<string, string> = {
      rados_osd_op_timeout: t,
      rados_mon_op_timeout: t,
      client_mount_timeout: t,
      // Writes complete when the OSDs have them (FUA and SYNCHRONIZE CACHE are then free),
      // and a gateway that dies loses nothing it acknowledged.
      rbd_cache: 'false',
      ...opts.options,
    };
    for (const [k, v] of Object.entries(settings)) {
      rc = b.rados.rados_conf_set(h, k, v);
      if (rc < 0) fail(`cannot set ${k}`, rc);
    }
    rc = await callAsync(b.rados.rados_connect, h);
    if (rc < 0) fail(`cannot connect to Ceph cluster "${clusterName}" as ${clientName} with ${conf}`, rc);
    return new RadosCluster(b, h, clusterName, clientName);
  }

  /**
   * Another client in the same process sharing this one's CephContext (rados_create_with_context):
   * the same configuration, messenger worker threads and perf counters (so what it reports to the
   * mgr includes the librbd counters of the images this client opened). It has its own mon and
   * mgr sessions, and its own service-map registration (a client registers at most once).
   */
  async sibling(): Promise<RadosCluster> {
    if (this.closed) throw new BackstoreError('ERR_BACKSTORE_IO', 'rados connection is closed');
    const out: Ptr[] = [0n];
    check('rados_create_with_context', this.b.rados.rados_create_with_context(out, this.b.rados.rados_cct(this.handle)));
    const h = out[0]!;
    const rc = await callAsync(this.b.rados.rados_connect, h);
    if (rc < 0) {
      await callAsync(this.b.rados.rados_shutdown, h);
      throw new RadosError(`cannot connect a second client to Ceph cluster "${this.clusterName}" as ${this.clientName}`, rc);
    }
    return new RadosCluster(this.b, h, this.clusterName, this.clientName);
  }

  /**
   * Registers this client in the mgr service map as `<service>.<daemon>` with `metadata` (once per
   * client: librados answers EEXIST to a second call). `ceph service dump` lists it while connected.
   */
  async registerService(service: string, daemon: string, metadata: Record<string, string>): Promise<void> {
    const rc = await callAsync(this.b.rados.rados_service_register, this.handle, service, daemon, nulDict(metadata));
    check(`rados_service_register(${service}, ${daemon})`, rc);
  }

  /** The registered daemon's status (sent with its next report to the mgr). */
  updateServiceStatus(status: Record<string, string>): void {
    check('rados_service_update_status', this.b.rados.rados_service_update_status(this.handle, nulDict(status)));
  }

  /** A mgr command whose JSON answer is returned; a negative rc throws with the mgr's text. */
  async mgrJson<T>(cmd: Record<string, unknown>): Promise<T> {
    const r = await this.command(this.b.rados.rados_mgr_command, { ...cmd, format: 'json' });
    if (r.rc < 0) throw new RadosError(`mgr command "${String(cmd.prefix)}" failed${r.status ? `: ${r.status}` : ''}`, r.rc);
    return JSON.parse(r.out === '' ? 'null' : r.out) as T;
  }

  /** This client's messenger address ("127.0.0.1:0/3886208918"), as lock owners are named. */
  address(): string {
    const out: Ptr[] = [0n];
    check('rados_getaddrs', this.b.rados.rados_getaddrs(this.handle, out));
    const p = out[0]!;
    const s = String(this.b.koffi.decode(p, 'char', -1));
    this.b.rados.rados_buffer_free(p);
    return s;
  }

  /** This client's instance id: the `<gid>` of `client.<gid>`, as notify replies name watchers. */
  instanceId(): bigint {
    return BigInt(this.b.rados.rados_get_instance_id(this.handle));
  }

  fsid(): string {
    const buf = Buffer.alloc(64);
    const n = check('rados_cluster_fsid', this.b.rados.rados_cluster_fsid(this.handle, buf, buf.length));
    return buf.subarray(0, n).toString('utf8').replace(/\0.*$/, '');
  }

  async listPools(): Promise<string[]> {
    for (let size = 4096; ; size *= 4) {
      const buf = Buffer.alloc(size);
      const need = await callAsync(this.b.rados.rados_pool_list, this.handle, buf, size);
      if (need < 0) throw new RadosError('rados_pool_list', need);
      if (need <= size) return splitNul(buf.subarray(0, need));
    }
  }

  /** Pool id, or undefined when absent. */
  async poolId(pool: string): Promise<number | undefined> {
    const id = Number(await callAsync(this.b.rados.rados_pool_lookup, this.handle, pool));
    if (id === -ENOENT) return undefined;
    if (id < 0) throw new RadosError(`rados_pool_lookup(${pool})`, id);
    return id;
  }

  /** The pool's I/O context (kept for the connection's life). */
  ioctx(pool: string): Promise<Ptr> {
    if (this.closed) return Promise.reject(new BackstoreError('ERR_BACKSTORE_IO', 'rados connection is closed'));
    let p = this.ioctxs.get(pool);
    if (p === undefined) {
      p = (async () => {
        const out: Ptr[] = [0n];
        const rc = await callAsync(this.b.rados.rados_ioctx_create, this.handle, pool, out);
        if (rc === -ENOENT) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `pool ${pool} does not exist`);
        check(`rados_ioctx_create(${pool})`, rc);
        return out[0]!;
      })();
      this.ioctxs.set(pool, p);
      p.catch(() => this.ioctxs.delete(pool));
    }
    return p;
  }

  /** Runs a mon command given as an object ({prefix, format: 'json', ...}). */
  monCommand(cmd: Record<string, unknown>, input?: Buffer): Promise<MonReply> {
    return this.command(this.b.rados.rados_mon_command, cmd, input);
  }

  private async command(fn: Bindings['rados']['rados_mon_command'], cmd: Record<string, unknown>, input?: Buffer): Promise<MonReply> {
    const outbuf: Ptr[] = [0n];
    const outlen: number[] = [0];
    const outs: Ptr[] = [0n];
    const outslen: number[] = [0];
    const rc = await callAsync(
      fn,
      this.handle,
      [JSON.stringify(cmd)],
      1,
      input ?? null,
      input?.length ?? 0,
      outbuf,
      outlen,
      outs,
      outslen,
    );
    const take = (p: Ptr | undefined, len: number | undefined): string => {
      if (p === undefined || p === 0n) return '';
      const n = Number(len ?? 0);
      const s = n > 0 ? Buffer.from(this.b.koffi.view(p, n)).toString('utf8') : '';
      this.b.rados.rados_buffer_free(p);
      return s;
    };
    return { rc, out: take(outbuf[0], outlen[0]), status: take(outs[0], outslen[0]) };
  }

  /** A mon command whose JSON answer is returned; a negative rc throws with the mon's text. */
  async monJson<T>(cmd: Record<string, unknown>): Promise<T> {
    const r = await this.monCommand({ ...cmd, format: 'json' });
    if (r.rc < 0) throw new RadosError(`mon command "${String(cmd.prefix)}" failed${r.status ? `: ${r.status}` : ''}`, r.rc);
    return JSON.parse(r.out === '' ? 'null' : r.out) as T;
  }

  /** `config-key get <key>` (mon config-key store); undefined when absent. */
  async configKeyGet(key: string): Promise<string | undefined> {
    const r = await this.monCommand({ prefix: 'config-key get', key });
    if (r.rc === -ENOENT) return undefined;
    if (r.rc < 0) throw new RadosError(`config-key get ${key}${r.status ? `: ${r.status}` : ''}`, r.rc);
    return r.out;
  }

  // ------------------------------------------------------------- objects

  /** The object's size, or undefined when it does not exist. */
  async stat(pool: string, oid: string): Promise<number | undefined> {
    const io = await this.ioctx(pool);
    const size: number[] = [0];
    const mtime: number[] = [0];
    const rc = await callAsync(this.b.rados.rados_stat, io, oid, size, mtime);
    if (rc === -ENOENT) return undefined;
    check(`stat ${pool}/${oid}`, rc);
    return Number(size[0]);
  }

  /** The whole object, or undefined when it does not exist. */
  async readFull(pool: string, oid: string): Promise<Buffer | undefined> {
    const io = await this.ioctx(pool);
    for (let attempt = 0; attempt < 5; attempt++) {
      const size = await this.stat(pool, oid);
      if (size === undefined) return undefined;
      // size+1: a concurrent writer that made it longer is seen as a short read of stale size
      const buf = Buffer.allocUnsafe(size + 1);
      const n = await callAsync(this.b.rados.rados_read, io, oid, buf, buf.length, 0);
      if (n === -ENOENT) return undefined;
      check(`read ${pool}/${oid}`, n);
      if (n <= size) return buf.subarray(0, n);
    }
    throw new BackstoreError('ERR_BACKSTORE_IO', `read ${pool}/${oid}: object keeps growing`);
  }

  async writeFull(pool: string, oid: string, data: Buffer): Promise<void> {
    const io = await this.ioctx(pool);
    check(`write ${pool}/${oid}`, await callAsync(this.b.rados.rados_write_full, io, oid, data, data.length));
  }

  /** write_full and setxattr in one write operation: one round trip, applied together. */
  async writeFullWithXattr(pool: string, oid: string, data: Buffer, name: string, value: string): Promise<void> {
    const io = await this.ioctx(pool);
    const r = this.b.rados;
    const op = r.rados_create_write_op();
    try {
      r.rados_write_op_write_full(op, data, data.length);
      const v = Buffer.from(value, 'utf8');
      r.rados_write_op_setxattr(op, name, v, v.length);
      check(`write ${pool}/${oid}`, await callAsync(r.rados_write_op_operate, op, io, oid, null, 0));
    } finally {
      r.rados_release_write_op(op);
    }
  }

  /** Creates an empty object if it does not exist (LIBRADOS_CREATE_EXCLUSIVE); false when it existed. */
  async createExclusive(pool: string, oid: string): Promise<boolean> {
    const io = await this.ioctx(pool);
    const op = this.b.rados.rados_create_write_op();
    try {
      this.b.rados.rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, null);
      const rc = await callAsync(this.b.rados.rados_write_op_operate, op, io, oid, null, 0);
      if (rc === -EEXIST) return false;
      check(`create ${pool}/${oid}`, rc);
      return true;
    } finally {
      this.b.rados.rados_release_write_op(op);
    }
  }

  /**
   * One atomic write op: the guard, then write_full(`data`) and setxattr(`xattr`, `next`).
   * Guard: `expect` undefined = the object must not exist (exclusive create); otherwise the
   * xattr must equal `expect` (cmpxattr EQ). Returns false when the guard failed (-ECANCELED,
   * -EEXIST; -ENODATA when the xattr is missing): nothing was written.
   */
  async writeFullGuarded(pool: string, oid: string, xattr: string, expect: string | undefined, data: Buffer, next: string): Promise<boolean> {
    const io = await this.ioctx(pool);
    const r = this.b.rados;
    const op = r.rados_create_write_op();
    try {
      if (expect === undefined) {
        r.rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, null);
      } else {
        const want = Buffer.from(expect, 'utf8');
        r.rados_write_op_cmpxattr(op, xattr, LIBRADOS_CMPXATTR_OP_EQ, want, want.length);
      }
      r.rados_write_op_write_full(op, data, data.length);
      const v = Buffer.from(next, 'utf8');
      r.rados_write_op_setxattr(op, xattr, v, v.length);
      const rc = await callAsync(r.rados_write_op_operate, op, io, oid, null, 0);
      if (rc === -ECANCELED || rc === -EEXIST || rc === -61 /* ENODATA */ || (expect !== undefined && rc === -ENOENT)) return false;
      check(`write ${pool}/${oid}`, rc);
      return true;
    } finally {
      r.rados_release_write_op(op);
    }
  }

  async getXattr(pool: string, oid: string, name: string): Promise<string | undefined> {
    const io = await this.ioctx(pool);
    for (let size = 64; size <= 1 << 20; size *= 16) {
      const buf = Buffer.alloc(size);
      const n = await callAsync(this.b.rados.rados_getxattr, io, oid, name, buf, size);
      if (n === -ENOENT || n === -61 /* ENODATA */) return undefined;
      if (n === -ERANGE) continue;
      check(`getxattr ${pool}/${oid} ${name}`, n);
      return buf.subarray(0, n).toString('utf8');
    }
    return undefined;
  }

  async setXattr(pool: string, oid: string, name: string, value: string): Promise<void> {
    const io = await this.ioctx(pool);
    const buf = Buffer.from(value, 'utf8');
    check(`setxattr ${pool}/${oid} ${name}`, await callAsync(this.b.rados.rados_setxattr, io, oid, name, buf, buf.length));
  }

  /**
   * rados_lock_exclusive(name, cookie) for `durationSec` (so a dead holder's lock expires).
   * Returns false when another client holds it (EBUSY/EEXIST).
   */
  async tryLockExclusive(pool: string, oid: string, name: string, cookie: string, durationSec: number): Promise<boolean> {
    const io = await this.ioctx(pool);
    const rc = await callAsync(this.b.rados.rados_lock_exclusive, io, oid, name, cookie, '', { tv_sec: durationSec, tv_usec: 0 }, 0);
    if (rc === -16 /* EBUSY */ || rc === -EEXIST) return false;
    check(`lock ${pool}/${oid}`, rc);
    return true;
  }

  async unlock(pool: string, oid: string, name: string, cookie: string): Promise<void> {
    const io = await this.ioctx(pool);
    const rc = await callAsync(this.b.rados.rados_unlock, io, oid, name, cookie);
    if (rc !== -ENOENT) check(`unlock ${pool}/${oid}`, rc);
  }

  /**
   * Watches the object. `onNotify(payload)` and `onError(err)` run on the event loop (the
   * librados thread only queues them); the notify is acknowledged at once, or with
   * `ackWhenDone` only when the promise `onNotify` returns settles (the notifier then knows
   * that this watcher has acted on it).
   */
  async watch(
    pool: string,
    oid: string,
    onNotify: (payload: Buffer) => void | Promise<void>,
    onError: (rc: number) => void,
    opts: { ackWhenDone?: boolean } = {},
  ): Promise<WatchHandle> {
    const io = await this.ioctx(pool);
    const { koffi } = this.b;
    let cookie: number | bigint = 0;
    const notifyCb = koffi.register(
      ((_arg: Ptr, notifyId: bigint, handle: bigint, _notifier: bigint, data: Ptr, len: number | bigint) => {
        // koffi runs this on the JS thread while the librados thread waits: copy, ack, defer.
        try {
          const n = Number(len);
          // A copy: the view is librados memory, gone once this callback returns.
          const payload = n > 0 && data !== 0n ? Buffer.from(new Uint8Array(koffi.view(data, n))) : Buffer.alloc(0);
          // On the loop, not the threadpool: librados only queues the ack (no reply is awaited),
          // and an ack queued behind pool threads blocked in rados_notify2 (this process's own
          // notifies, waiting for this very ack) stalled each of them for its whole timeout.
          const ack = (): void => void this.b.rados.rados_notify_ack(io, oid, notifyId, handle, null, 0);
          setImmediate(() => {
            if (!opts.ackWhenDone) ack();
            let done: void | Promise<void>;
            try {
              done = onNotify(payload);
            } catch {
              done = undefined;
            }
            if (opts.ackWhenDone) {
              if (done instanceof Promise) done.then(ack, ack);
              else ack();
            }
          });
        } catch {
          // never throw into librados
        }
      }) as (...args: never[]) => unknown,
      this.b.watchCb,
    );
    const errCb = koffi.register(
      ((_pre: Ptr, _cookie: bigint, err: number) => {
        setImmediate(() => onError(err));
      }) as (...args: never[]) => unknown,
      this.b.watchErrCb,
    );
    const out: number[] = [0];
    const rc = await callAsync(this.b.rados.rados_watch2, io, oid, out, notifyCb, errCb, null);
    if (rc < 0) {
      koffi.unregister(notifyCb);
      koffi.unregister(errCb);
      throw new RadosError(`watch ${pool}/${oid}`, rc);
    }
    cookie = out[0] ?? 0;
    let closed = false;
    return {
      cookie: BigInt(cookie),
      close: async () => {
        if (closed) return;
        closed = true;
        await callAsync(this.b.rados.rados_unwatch2, io, cookie).catch(() => undefined);
        koffi.unregister(notifyCb);
        koffi.unregister(errCb);
      },
    };
  }

  /** rados_notify2 through the threadpool (never synchronously: this process may watch the object too). */
  async notify(pool: string, oid: string, payload: Buffer, timeoutMs: number): Promise<number> {
    const io = await this.ioctx(pool);
    const reply: Ptr[] = [0n];
    const replyLen: number[] = [0];
    const rc = await callAsync(this.b.rados.rados_notify2, io, oid, payload, payload.length, timeoutMs, reply, replyLen);
    if (reply[0] !== undefined && reply[0] !== 0n) this.b.rados.rados_buffer_free(reply[0]);
    return rc;
  }

  /**
   * rados_notify2 that also decodes the reply (librados.h rados_notify2: le32 acks, then per ack
   * le64 gid, le64 cookie, le32 length + payload; le32 timeouts, then per timeout le64 gid,
   * le64 cookie): who is watching the object and alive.
   */
  async notifyWatchers(pool: string, oid: string, payload: Buffer, timeoutMs: number): Promise<NotifyReply> {
    const io = await this.ioctx(pool);
    const reply: Ptr[] = [0n];
    const replyLen: number[] = [0];
    const rc = await callAsync(this.b.rados.rados_notify2, io, oid, payload, payload.length, timeoutMs, reply, replyLen);
    const p = reply[0];
    let buf = Buffer.alloc(0);
    if (p !== undefined && p !== 0n) {
      const n = Number(replyLen[0] ?? 0);
      if (n > 0) buf = Buffer.from(new Uint8Array(this.b.koffi.view(p, n))); // a copy: freed below
      this.b.rados.rados_buffer_free(p);
    }
    if (rc < 0 && rc !== -110 /* ETIMEDOUT: some watcher did not ack; the reply says who */) throw new RadosError(`notify ${pool}/${oid}`, rc);
    return { rc, ...decodeNotifyReply(buf) };
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.ioctxs.values()) {
      const io = await p.catch(() => undefined);
      // On the threadpool: a watch callback still being relayed to this thread (koffi waits for
      // the event loop to run it) must not meet this thread blocked inside librados.
      if (io !== undefined) await callAsync(this.b.rados.rados_ioctx_destroy, io);
    }
    this.ioctxs.clear();
    await callAsync(this.b.rados.rados_shutdown, this.handle);
  }
}

/** The acks and timeouts of a rados_notify2 reply buffer (empty buffer: nobody). */
export function decodeNotifyReply(buf: Buffer): { acks: NotifyWatcher[]; timeouts: NotifyWatcher[] } {
  const acks: NotifyWatcher[] = [];
  const timeouts: NotifyWatcher[] = [];
  if (buf.length < 4) return { acks, timeouts };
  let off = 0;
  const nAcks = buf.readUInt32LE(off);
  off += 4;
  for (let i = 0; i < nAcks; i++) {
    acks.push({ gid: buf.readBigUInt64LE(off), cookie: buf.readBigUInt64LE(off + 8) });
    off += 16;
    off += 4 + buf.readUInt32LE(off); // the ack's payload
  }
  const nTimeouts = buf.readUInt32LE(off);
  off += 4;
  for (let i = 0; i < nTimeouts; i++) {
    timeouts.push({ gid: buf.readBigUInt64LE(off), cookie: buf.readBigUInt64LE(off + 8) });
    off += 16;
  }
  return { acks, timeouts };
}

/** {a: "1", b: "2"} → "a\01\0b\02\0\0" (librados's metadata and status dictionaries). */
export function nulDict(dict: Record<string, string>): Buffer {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(dict)) parts.push(k.replaceAll('\0', ''), v.replaceAll('\0', ''));
  return Buffer.from(`${parts.map((p) => `${p}\0`).join('')}\0`, 'utf8');
}

/** "a\0b\0\0" → ["a", "b"]. */
export function splitNul(buf: Buffer): string[] {
  return buf
    .toString('utf8')
    .split('\0')
    .filter((s) => s !== '');
}
