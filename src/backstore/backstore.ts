/**
 * Block storage behind a logical unit. Shaped after librbd's asynchronous API
 * (rbd_aio_read/write/flush/discard/writesame/compare_and_write) so that the RBD
 * store is a thin binding and the file and memory stores follow the same contract.
 *
 * Offsets and lengths are in bytes and always lie inside [0, sizeBytes): the SCSI
 * layer checks ranges before it calls a store. Buffers belong to the caller:
 * read() fills `dest`, write() must not keep `src` after its promise settles, and the
 * caller leaves `src` unchanged until then (the RBD store sends it without a copy).
 */
import { GatewayError } from '../util/errors.js';

export interface AllocationExtent {
  offset: number;
  length: number;
  /** true: mapped (data); false: deallocated (a hole, reads as zeroes). */
  allocated: boolean;
}

export interface BackingStore {
  /** "pool/image" or another human name, for logs and metrics. */
  readonly name: string;
  /** Current size in bytes (changes after resize()). */
  readonly sizeBytes: number;
  /** Reads `dest.length` bytes at `offset` into `dest`. */
  read(offset: number, dest: Buffer): Promise<void>;
  /** Writes `src` at `offset`; with fua the data is durable when the promise settles. */
  write(offset: number, src: Buffer, fua?: boolean): Promise<void>;
  /**
   * Set by the HA layer (file default): consulted right before each write is handed to the OS;
   * false fails it with ERR_BACKSTORE_LOCK_LOST (this gateway lost its lease meanwhile).
   */
  fence?: (() => boolean) | undefined;
  /** Makes every completed write durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>;
  /** Deallocates the range; later reads return zeroes (UNMAP, WRITE SAME with UNMAP). Absent: no thin provisioning. */
  discard?(offset: number, length: number): Promise<void>;
  /** Writes `pattern` (one block) repeatedly over [offset, offset+length). Absent: the SCSI layer loops over write(). */
  writeSame?(offset: number, length: number, pattern: Buffer): Promise<void>;
  /**
   * Atomically compares `compare` with the data at `offset` and, if equal, writes `data` there.
   * Returns -1 on success or the byte offset (relative to `offset`) of the first mismatch.
   * Absent: the SCSI layer serialises COMPARE AND WRITE with a range lock over read()+write().
   */
  compareAndWrite?(offset: number, compare: Buffer, data: Buffer): Promise<number>;
  /** Allocation map of [offset, offset+length) as consecutive extents (GET LBA STATUS). Absent: all allocated. */
  mapAllocation?(offset: number, length: number): Promise<AllocationExtent[]>;
  /** Grows (or shrinks) the store. */
  resize(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
  /** The store's cluster-wide exclusive write lock (RBD exclusive-lock), when it has one. */
  readonly exclusiveLock?: ExclusiveLock | undefined;
}

/**
 * A cluster-wide single-writer lock on the store (RBD's exclusive lock), driven by the HA
 * layer (gateway/ha) once it calls manage(): from then on writes never take the lock
 * themselves; a write without it fails with ERR_BACKSTORE_LOCK_LOST.
 */
export interface ExclusiveLock {
  /** This client's address as lock owners are named (the librados instance address). */
  readonly clientAddress: string;
  /**
   * Hands the lock to the caller: no implicit acquisition on write from now on. `onLost` runs
   * when a write finds the lock gone, with `fenced` when this client was blocklisted (every
   * operation fails until the provider reconnects).
   */
  manage(onLost: (fenced: boolean) => void): void;
  /** Whether this client holds the lock (as last seen: acquire, release, a lost-lock error). */
  held(): boolean;
  /** Addresses of the lock's current owners ([] when free). */
  owners(): Promise<string[]>;
  acquire(): Promise<void>;
  /** Releases the lock (after the caller drained its writes). */
  release(): Promise<void>;
  /** Breaks `owner`'s lock: the owner's client is blocklisted first, so a stale write of it cannot land. */
  breakLock(owner: string): Promise<void>;
}

export interface PoolStats {
  name: string;
  /** Bytes the pool's images may grow to (sum of image sizes). */
  committedBytes: number;
  /** Bytes actually used (allocated) by the pool. */
  usedBytes: number;
  /** Capacity available to the pool (filesystem / cluster capacity). */
  capacityBytes: number;
  /** Replication size (1 on a single filesystem). */
  replicas: number;
  /** Erasure-coded pools: data and coding chunks (replicas is then k+m). */
  ec?: { k: number; m: number };
}

/** What the cluster looks like, for gwcli's `/cluster` node and `GET /api/cluster`. */
export interface ClusterInfo {
  /** HEALTH_OK, HEALTH_WARN or HEALTH_ERR (Ceph's words). */
  health: string;
  /** One line per reason the health is not OK. */
  checks: string[];
  /** Counts by kind, in display order: { OSDs: 3, MONs: 3 } on Ceph, { Filesystems: 1 } on files. */
  topology: Record<string, number>;
  /** The storage software's version, when it has one. */
  version?: string;
}

/**
 * Pools and images of one storage back end: directories and sparse files on the
 * embedded default, RADOS pools and RBD images on Ceph.
 */
export interface BackstoreProvider {
  /** "file", "memory", "rbd". */
  readonly kind: string;
  listPools(): Promise<string[]>;
  poolExists(pool: string): Promise<boolean>;
  createPool?(pool: string): Promise<void>;
  poolStats(pool: string): Promise<PoolStats>;
  /** Health and topology of the storage behind the pools. Absent: the API reports HEALTH_OK with no topology. */
  clusterInfo?(): Promise<ClusterInfo>;
  listImages(pool: string): Promise<string[]>;
  /** Size in bytes, or undefined when the image does not exist. */
  imageSize(pool: string, image: string): Promise<number | undefined>;
  createImage(pool: string, image: string, sizeBytes: number): Promise<void>;
  resizeImage(pool: string, image: string, sizeBytes: number): Promise<void>;
  removeImage(pool: string, image: string): Promise<void>;
  open(pool: string, image: string): Promise<BackingStore>;
  /** How many images the gateway opens at once (a start with many LUNs). Absent: 16. */
  readonly openConcurrency?: number;
  /**
   * Checks that this gateway group may export the image (features, not exported by another
   * group) and marks it as exported by this group. Called before a disk is defined on it.
   * Absent: any image may be exported.
   */
  claimImage?(pool: string, image: string): Promise<void>;
  snapshot?: {
    list(pool: string, image: string): Promise<string[]>;
    create(pool: string, image: string, name: string): Promise<void>;
    remove(pool: string, image: string, name: string): Promise<void>;
    rollback(pool: string, image: string, name: string): Promise<void>;
  };
  /**
   * The devices' entries in the cluster's service map (tcmu-runner's: one per gateway and image),
   * for the device health of `GET /api/disk`. Absent: no device health.
   */
  readonly deviceServiceStatus?: (() => Promise<DeviceServiceEntry[]>) | undefined;
  close(): Promise<void>;
}

/** One device's entry of the cluster's service map: a gateway's view of one image. */
export interface DeviceServiceEntry {
  /** The gateway's name (the daemon name's prefix). */
  gateway: string;
  /** "<pool>/<image>". */
  disk: string;
  /** lock_owner, lock_lost_cnt, conn_lost_cnt, cmd_timed_out_cnt; undefined until the mgr has one. */
  status: Record<string, string> | undefined;
  /** When the mgr received that status (its ISO 8601 text; one format, so texts compare as times). */
  statusStamp: string | undefined;
}

export type BackstoreErrorCode =
  | 'ERR_BACKSTORE_IO'
  | 'ERR_BACKSTORE_NOT_FOUND'
  | 'ERR_BACKSTORE_EXISTS'
  | 'ERR_BACKSTORE_IN_USE'
  | 'ERR_BACKSTORE_INVALID'
  | 'ERR_BACKSTORE_NOT_SUPPORTED'
  | 'ERR_BACKSTORE_TIMEOUT'
  /** The write needs the image's exclusive lock, which this client does not hold (or lost: blocklisted). */
  | 'ERR_BACKSTORE_LOCK_LOST';

export class BackstoreError extends GatewayError {
  /** Which direction failed, so the SCSI layer can pick MEDIUM ERROR (read) or WRITE ERROR (write). */
  readonly op: 'read' | 'write' | 'other';
  constructor(code: BackstoreErrorCode, message: string, op: 'read' | 'write' | 'other' = 'other', options?: { cause?: unknown }) {
    super(code, message, options);
    this.op = op;
  }
}
