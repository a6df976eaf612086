/**
 * In-RAM backing store and provider, for tests and demos. Thin: data lives in
 * fixed-size chunks allocated on first write; discarded whole chunks are freed
 * (and read back as zeroes), so mapAllocation reports real holes.
 */
import {
  BackstoreError,
  type AllocationExtent,
  type BackingStore,
  type BackstoreProvider,
  type PoolStats,
} from './backstore.js';

export interface MemoryBackingStoreOptions {
  /** Allocation unit in bytes (power of two); 4 KiB by default. */
  chunkBytes?: number;
  /** Implement discard/mapAllocation (thin provisioning); true by default. */
  thin?: boolean;
  /** Implement compareAndWrite natively; false by default so the SCSI range lock is exercised. */
  nativeCompareAndWrite?: boolean;
}

/** The image's bytes, shared by every handle opened on it. */
interface MemoryImageData {
  size: number;
  readonly chunks: Map<number, Buffer>;
}

export class MemoryBackingStore implements BackingStore {
  readonly name: string;
  private readonly data: MemoryImageData;
  private readonly chunkBytes: number;
  private readonly chunks: Map<number, Buffer>;
  private closed = false;
  /** Counters for tests. */
  readonly stats = { reads: 0, writes: 0, flushes: 0, discards: 0 };

  declare discard?: (offset: number, length: number) => Promise<void>;
  declare mapAllocation?: (offset: number, length: number) => Promise<AllocationExtent[]>;
  declare compareAndWrite?: (offset: number, compare: Buffer, data: Buffer) => Promise<number>;

  /**
   * @param shareWith another handle of the same image: this handle sees and changes the same bytes
   *   (sizeBytes is then ignored); a closed handle does not close the image.
   */
  constructor(name: string, sizeBytes: number, opts: MemoryBackingStoreOptions = {}, shareWith?: MemoryBackingStore) {
    const chunk = opts.chunkBytes ?? 4096;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid size ${String(sizeBytes)}`);
    }
    if (chunk <= 0 || (chunk & (chunk - 1)) !== 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `chunk size must be a power of two: ${chunk}`);
    }
    this.name = name;
    this.data = shareWith?.data ?? { size: sizeBytes, chunks: new Map() };
    this.chunks = this.data.chunks;
    this.chunkBytes = shareWith?.chunkBytes ?? chunk;
    if (opts.thin ?? true) {
      this.discard = (offset, length) => this.discardImpl(offset, length);
      this.mapAllocation = (offset, length) => this.mapAllocationImpl(offset, length);
    }
    if (opts.nativeCompareAndWrite === true) {
      this.compareAndWrite = (offset, compare, data) => this.compareAndWriteImpl(offset, compare, data);
    }
  }

  get sizeBytes(): number {
    return this.data.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes held in RAM (allocated chunks). */
  get allocatedBytes(): number {
    return this.chunks.size * this.chunkBytes;
  }

  private check(offset: number, length: number, op: 'read' | 'write' | 'other'): void {
    if (this.closed) throw new BackstoreError('ERR_BACKSTORE_IO', `${this.name} is closed`, op);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.data.size) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `range ${offset}+${length} outside ${this.name} (${this.data.size} bytes)`, op);
    }
  }

  readSync(offset: number, dest: Buffer): void {
    const cb = this.chunkBytes;
    let pos = 0;
    while (pos < dest.length) {
      const abs = offset + pos;
      const idx = Math.floor(abs / cb);
      const within = abs - idx * cb;
      const n = Math.min(cb - within, dest.length - pos);
      const c = this.chunks.get(idx);
      if (c === undefined) dest.fill(0, pos, pos + n);
      else c.copy(dest, pos, within, within + n);
      pos += n;
    }
  }

  writeSync(offset: number, src: Buffer): void {
    const cb = this.chunkBytes;
    let pos = 0;
    while (pos < src.length) {
      const abs = offset + pos;
      const idx = Math.floor(abs / cb);
      const within = abs - idx * cb;
      const n = Math.min(cb - within, src.length - pos);
      let c = this.chunks.get(idx);
      if (c === undefined) {
        c = Buffer.alloc(cb);
        this.chunks.set(idx, c);
      }
      src.copy(c, within, pos, pos + n);
      pos += n;
    }
  }

  read(offset: number, dest: Buffer): Promise<void> {
    try {
      this.check(offset, dest.length, 'read');
      this.stats.reads++;
      this.readSync(offset, dest);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  write(offset: number, src: Buffer, _fua?: boolean): Promise<void> {
    try {
      this.check(offset, src.length, 'write');
      this.stats.writes++;
      this.writeSync(offset, src);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new BackstoreError('ERR_BACKSTORE_IO', `${this.name} is closed`, 'write'));
    this.stats.flushes++;
    return Promise.resolve();
  }

  private discardImpl(offset: number, length: number): Promise<void> {
    try {
      this.check(offset, length, 'write');
      this.stats.discards++;
      const cb = this.chunkBytes;
      const end = offset + length;
      let pos = offset;
      while (pos < end) {
        const idx = Math.floor(pos / cb);
        const chunkStart = idx * cb;
        const n = Math.min(chunkStart + cb, end) - pos;
        if (pos === chunkStart && n === cb) this.chunks.delete(idx);
        else this.chunks.get(idx)?.fill(0, pos - chunkStart, pos - chunkStart + n);
        pos += n;
      }
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  writeSame(offset: number, length: number, pattern: Buffer): Promise<void> {
    try {
      this.check(offset, length, 'write');
      if (pattern.length === 0 || length % pattern.length !== 0) {
        throw new BackstoreError('ERR_BACKSTORE_INVALID', 'writeSame length must be a multiple of the pattern', 'write');
      }
      this.stats.writes++;
      for (let pos = 0; pos < length; pos += pattern.length) this.writeSync(offset + pos, pattern);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private compareAndWriteImpl(offset: number, compare: Buffer, data: Buffer): Promise<number> {
    try {
      this.check(offset, compare.length, 'write');
      const cur = Buffer.allocUnsafe(compare.length);
      this.readSync(offset, cur);
      for (let i = 0; i < cur.length; i++) {
        if (cur[i] !== compare[i]) return Promise.resolve(i);
      }
      this.writeSync(offset, data);
      return Promise.resolve(-1);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private mapAllocationImpl(offset: number, length: number): Promise<AllocationExtent[]> {
    try {
      this.check(offset, length, 'read');
      const out: AllocationExtent[] = [];
      const cb = this.chunkBytes;
      const end = offset + length;
      let pos = offset;
      while (pos < end) {
        const idx = Math.floor(pos / cb);
        const n = Math.min((idx + 1) * cb, end) - pos;
        const allocated = this.chunks.has(idx);
        const last = out[out.length - 1];
        if (last !== undefined && last.allocated === allocated) last.length += n;
        else out.push({ offset: pos, length: n, allocated });
        pos += n;
      }
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  resize(sizeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      return Promise.reject(new BackstoreError('ERR_BACKSTORE_INVALID', `invalid size ${String(sizeBytes)}`));
    }
    if (sizeBytes < this.data.size) {
      const cb = this.chunkBytes;
      for (const idx of [...this.chunks.keys()]) {
        if (idx * cb >= sizeBytes) this.chunks.delete(idx);
        else if ((idx + 1) * cb > sizeBytes) this.chunks.get(idx)?.fill(0, sizeBytes - idx * cb);
      }
    }
    this.data.size = sizeBytes;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

interface MemoryImage {
  sizeBytes: number;
  store: MemoryBackingStore | undefined;
  snapshots: Map<string, Buffer>;
}

/** Pools and images in RAM. Opening an image twice returns the same store (data is shared). */
export class MemoryProvider implements BackstoreProvider {
  readonly kind = 'memory';
  private readonly pools = new Map<string, Map<string, MemoryImage>>();
  private readonly capacityBytes: number;
  private readonly storeOptions: MemoryBackingStoreOptions;

  constructor(opts: { pools?: string[]; capacityBytes?: number; storeOptions?: MemoryBackingStoreOptions } = {}) {
    for (const p of opts.pools ?? ['rbd']) this.pools.set(p, new Map());
    this.capacityBytes = opts.capacityBytes ?? 1024 ** 4;
    this.storeOptions = opts.storeOptions ?? {};
  }

  private pool(pool: string): Map<string, MemoryImage> {
    const p = this.pools.get(pool);
    if (p === undefined) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `pool ${pool} does not exist`);
    return p;
  }

  private image(pool: string, image: string): MemoryImage {
    const i = this.pool(pool).get(image);
    if (i === undefined) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `image ${pool}/${image} does not exist`);
    return i;
  }

  listPools(): Promise<string[]> {
    return Promise.resolve([...this.pools.keys()].sort());
  }

  poolExists(pool: string): Promise<boolean> {
    return Promise.resolve(this.pools.has(pool));
  }

  createPool(pool: string): Promise<void> {
    if (this.pools.has(pool)) return Promise.reject(new BackstoreError('ERR_BACKSTORE_EXISTS', `pool ${pool} exists`));
    this.pools.set(pool, new Map());
    return Promise.resolve();
  }

  async poolStats(pool: string): Promise<PoolStats> {
    const p = this.pool(pool);
    let committed = 0;
    let used = 0;
    for (const img of p.values()) {
      committed += img.store?.sizeBytes ?? img.sizeBytes;
      used += img.store?.allocatedBytes ?? 0;
    }
    return await Promise.resolve({ name: pool, committedBytes: committed, usedBytes: used, capacityBytes: this.capacityBytes, replicas: 1 });
  }

  async listImages(pool: string): Promise<string[]> {
    return await Promise.resolve([...this.pool(pool).keys()].sort());
  }

  async imageSize(pool: string, image: string): Promise<number | undefined> {
    const p = this.pools.get(pool);
    const img = p?.get(image);
    return await Promise.resolve(img === undefined ? undefined : (img.store?.sizeBytes ?? img.sizeBytes));
  }

  async createImage(pool: string, image: string, sizeBytes: number): Promise<void> {
    const p = this.pool(pool);
    if (p.has(image)) throw new BackstoreError('ERR_BACKSTORE_EXISTS', `image ${pool}/${image} exists`);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
      throw new BackstoreError('ERR_BACKSTORE_INVALID', `invalid size ${String(sizeBytes)}`);
    }
    p.set(image, { sizeBytes, store: undefined, snapshots: new Map() });
    await Promise.resolve();
  }

  async resizeImage(pool: string, image: string, sizeBytes: number): Promise<void> {
    const img = this.image(pool, image);
    if (img.store !== undefined) await img.store.resize(sizeBytes);
    img.sizeBytes = sizeBytes;
  }

  async removeImage(pool: string, image: string): Promise<void> {
    this.image(pool, image);
    this.pool(pool).delete(image);
    await Promise.resolve();
  }

  async open(pool: string, image: string): Promise<BackingStore> {
    const img = this.image(pool, image);
    // A new handle when the last one was closed; the bytes stay with the image.
    if (img.store === undefined) img.store = new MemoryBackingStore(`${pool}/${image}`, img.sizeBytes, this.storeOptions);
    else if (img.store.isClosed) img.store = new MemoryBackingStore(`${pool}/${image}`, img.sizeBytes, this.storeOptions, img.store);
    return await Promise.resolve(img.store);
  }

  readonly snapshot = {
    list: async (pool: string, image: string): Promise<string[]> => {
      return await Promise.resolve([...this.image(pool, image).snapshots.keys()].sort());
    },
    create: async (pool: string, image: string, name: string): Promise<void> => {
      const img = this.image(pool, image);
      if (img.snapshots.has(name)) throw new BackstoreError('ERR_BACKSTORE_EXISTS', `snapshot ${name} exists`);
      const store = (await this.open(pool, image)) as MemoryBackingStore;
      const copy = Buffer.alloc(store.sizeBytes);
      store.readSync(0, copy);
      img.snapshots.set(name, copy);
    },
    remove: async (pool: string, image: string, name: string): Promise<void> => {
      if (!this.image(pool, image).snapshots.delete(name)) {
        throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `snapshot ${name} does not exist`);
      }
      await Promise.resolve();
    },
    rollback: async (pool: string, image: string, name: string): Promise<void> => {
      const img = this.image(pool, image);
      const snap = img.snapshots.get(name);
      if (snap === undefined) throw new BackstoreError('ERR_BACKSTORE_NOT_FOUND', `snapshot ${name} does not exist`);
      const store = (await this.open(pool, image)) as MemoryBackingStore;
      await store.resize(snap.length);
      await store.discard?.(0, snap.length);
      store.writeSync(0, snap);
    },
  };

  close(): Promise<void> {
    return Promise.resolve();
  }
}
