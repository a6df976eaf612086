/**
 * Persistent-reservation state of one logical unit on the embedded default
 * (file backstore): small JSON files under `<data_dir>/.state/pr/`, shared by
 * every gateway process that uses that data_dir.
 *
 * FileSharedPrStore (scsi/reservations.ts SharedPrStore), one per LU per gateway:
 * - `<pool>.<image>.json` holds `{ "version": n, "doc": <PR document> }`;
 *   written only under the cross-process lock `.<pool>.<image>.json.lock`
 *   (proper-lockfile, as the config store), through a temp file + fsync +
 *   rename + directory fsync, so readers (which take no lock) see either the
 *   old or the new version, never a torn one. A file in the older APTPL-only
 *   format (the bare document) reads as version 0.
 * - `version()` is one stat(2): the version is re-read only when the file's
 *   ino/size/mtime changed.
 * - `watch()`: fs.watch on the directory (milliseconds) plus a stat poll
 *   (default 1000 ms, as the config store) for filesystems without inotify. The
 *   stores of one gateway share one fs.watch per directory (DirectoryWatches):
 *   with one watch each, every file created there (a new LU's users directory)
 *   woke 1,000 callbacks at 1,000 LUNs.
 * - Users: `<pool>.<image>.users/<host>~<pid>~<random>`, created by open(),
 *   touched a few times per lease, removed by close(). Another user counts as alive when
 *   its mark was touched within `leaseMs` and, on this host, its pid exists;
 *   `open()` reports `alone` when there is none (the APTPL = 0 rule in
 *   Reservations.load()). A crashed gateway on another host keeps counting for
 *   `leaseMs` (15 s by default).
 *
 * FilePrStore is the older single-gateway APTPL store (kept for callers that
 * want exactly that).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { properLockfile } from '../util/lockfile.js';
import type { PrStore, SharedPrSnapshot, SharedPrStore } from '../scsi/reservations.js';
import { GatewayError } from '../util/errors.js';


export class FilePrStore implements PrStore {
  readonly #path: string;
  constructor(dir: string, diskId: string) {
    // "pool/image" -> "pool.image.json": both names are restricted to [A-Za-z0-9._-].
    this.#path = join(dir, `${diskId.replace('/', '.')}.json`);
  }

  async load(): Promise<unknown> {
    try {
      return JSON.parse(await readFile(this.#path, 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(state: unknown): Promise<void> {
    await mkdir(join(this.#path, '..'), { recursive: true });
    const tmp = `${this.#path}.tmp`;
    await writeFile(tmp, JSON.stringify(state));
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#path);
  }
}

export interface FileSharedPrStoreOptions {
  /** Directory of the state files, normally `<data_dir>/.state/pr`. Created when missing. */
  dir: string;
  /** "pool/image". */
  diskId: string;
  /** watch() poll interval and user-mark refresh (default 1000 ms). */
  pollIntervalMs?: number;
  /**
   * fs.watch the directory (default true). Off: the poll alone (network filesystems, where
   * inotify does not see other hosts' writes anyway).
   */
  fsWatch?: boolean;
  /** A user mark older than this is a dead gateway (default 15 000 ms). */
  leaseMs?: number;
  /** How long update() waits for the lock (default 20 000 ms: longer than lockStaleMs, so a dead holder is taken over first). */
  lockTimeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process and is taken over (default 10 000 ms). */
  lockStaleMs?: number;
  /** The fs.watch to share with the other stores of the directory (default: one of its own). */
  watches?: DirectoryWatches;
}

/**
 * One fs.watch per directory, shared by the stores whose files are in it: an event goes to the
 * callbacks of the file it names (all of them when the platform does not say which file).
 */
export class DirectoryWatches {
  readonly #dirs = new Map<string, { watcher: fs.FSWatcher; byName: Map<string, Set<() => void>> }>();
  readonly #listings = new Map<string, { at: number; names: Promise<Set<string> | undefined>; dirty: boolean }>();
  /** Stores of each directory inside open() now. */
  readonly #opening = new Map<string, number>();

  /**
   * Counts a store's open() in `dir` until the returned function is called. While other stores
   * of the directory are opening too (a start), one listing serves them all (`batch`); a single
   * open (a LUN added) stats its file instead: a listing of 1,000 LUNs' entries costs more.
   */
  beginOpen(dir: string): () => void {
    this.#opening.set(dir, (this.#opening.get(dir) ?? 0) + 1);
    return () => {
      const left = (this.#opening.get(dir) ?? 1) - 1;
      if (left > 0) this.#opening.set(dir, left);
      else this.#opening.delete(dir);
    };
  }

  /** More than one store of `dir` is inside open() now. */
  batch(dir: string): boolean {
    return (this.#opening.get(dir) ?? 0) > 1;
  }

  /**
   * The names in `dir`, read at most once per `maxAgeMs` for all the stores polling it
   * (undefined when it cannot be read): a poll needs no stat(2) of a file that is not listed.
   * 1,000 LUNs whose PR state was never written: a few readdirs a second instead of 1,000
   * failing stats (each an exception: ~9 % of the main thread while management ran).
   * `clean`: undefined (stat instead) when something changed in `dir` since the listing.
   */
  names(dir: string, maxAgeMs: number, clean = false): Promise<Set<string> | undefined> {
    const now = performance.now();
    const hit = this.#listings.get(dir);
    if (hit !== undefined && now - hit.at < maxAgeMs) return clean && hit.dirty ? Promise.resolve(undefined) : hit.names;
    const names = readdir(dir).then(
      (list) => new Set(list),
      () => undefined,
    );
    this.#listings.set(dir, { at: now, names, dirty: false });
    return names;
  }

  /** Calls `cb` when `dir/name` may have changed. Returns the remover, or undefined when `dir` cannot be watched. */
  watch(dir: string, name: string, cb: () => void): (() => void) | undefined {
    let d = this.#dirs.get(dir);
    if (d === undefined) {
      let watcher: fs.FSWatcher;
      try {
        watcher = fs.watch(dir, { persistent: false }, (_event, filename) => this.#dispatch(dir, filename));
      } catch {
        return undefined;
      }
      const entry = { watcher, byName: new Map<string, Set<() => void>>() };
      watcher.on('error', () => {
        // directory gone or inotify limit: the stores' polls still work
        watcher.close();
        if (this.#dirs.get(dir) === entry) this.#dirs.delete(dir);
      });
      this.#dirs.set(dir, entry);
      d = entry;
    }
    const entry = d;
    let set = entry.byName.get(name);
    if (set === undefined) entry.byName.set(name, (set = new Set()));
    const callbacks = set;
    callbacks.add(cb);
    return () => {
      callbacks.delete(cb);
      if (callbacks.size === 0 && entry.byName.get(name) === callbacks) entry.byName.delete(name);
      if (entry.byName.size === 0 && this.#dirs.get(dir) === entry) {
        this.#dirs.delete(dir);
        entry.watcher.close();
      }
    };
  }

  /**
   * Something in `dir` changed (a write of this process, an fs.watch event): names(clean) does
   * not answer from the listing until it is read again. (It is not read again at once: a LUN
   * added creates an entry, and a listing of 1,000 LUNs' entries per change costs more than
   * the stats it saves.)
   */
  changed(dir: string): void {
    const hit = this.#listings.get(dir);
    if (hit !== undefined) hit.dirty = true;
  }

  #dispatch(dir: string, filename: string | Buffer | null): void {
    this.changed(dir);
    const d = this.#dirs.get(dir);
    if (d === undefined) return;
    const targets = filename === null ? [...d.byName.values()] : [d.byName.get(String(filename))];
    for (const set of targets) for (const cb of set ?? []) cb();
  }
}

interface Envelope {
  version: number;
  doc: unknown;
}

function ioError(what: string, err: unknown): GatewayError {
  return new GatewayError('ERR_PR_STORE_IO', `persistent reservation state: ${what}: ${(err as Error).message}`, { cause: err });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `pid` is a running process on this host (EPERM: it exists, owned by someone else). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A user mark this process wrote. Every mark of the process has the same content, so the next
 * ones are copies of it: copyFile is one file operation (in the thread pool), writeFile three
 * (open, write, close), on each of 1,000 LUs at start.
 */
let markTemplate: string | undefined;

async function writeMark(path: string): Promise<void> {
  const template = markTemplate;
  if (template !== undefined && template !== path) {
    try {
      await copyFile(template, path);
      return;
    } catch {
      // the template went with its LU: write this one
    }
  }
  await writeFile(path, `${JSON.stringify({ host: hostname(), pid: process.pid })}\n`);
  markTemplate = path;
}

export class FileSharedPrStore implements SharedPrStore {
  readonly path: string;
  readonly #dir: string;
  readonly #base: string;
  readonly #lockPath: string;
  readonly #usersDir: string;
  readonly #me: string;
  readonly #pollMs: number;
  readonly #useFsWatch: boolean;
  readonly #leaseMs: number;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  /** In-process serialisation of update()s. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Last read: stat signature → envelope (version() answers from it while the file is unchanged). */
  #cached: { sig: string; env: Envelope } | undefined;
  readonly #watchers = new Set<() => void>();
  #fsWatcher: fs.FSWatcher | undefined;
  readonly #watches: DirectoryWatches | undefined;
  #unwatchShared: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSig: string | undefined;
  #markOpen = false;
  #closed = false;

  constructor(opts: FileSharedPrStoreOptions) {
    this.#dir = opts.dir;
    // "pool/image" -> "pool.image.json": both names are restricted to [A-Za-z0-9._-].
    const name = opts.diskId.replace('/', '.');
    this.#base = `${name}.json`;
    this.path = join(this.#dir, this.#base);
    this.#lockPath = join(this.#dir, `.${this.#base}.lock`);
    this.#usersDir = join(this.#dir, `${name}.users`);
    this.#me = `${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}~${process.pid}~${randomBytes(4).toString('hex')}`;
    this.#pollMs = opts.pollIntervalMs ?? 1000;
    this.#useFsWatch = opts.fsWatch ?? true;
    this.#watches = opts.watches;
    this.#leaseMs = Math.max(opts.leaseMs ?? 15_000, 3 * this.#pollMs);
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 20_000;
    this.#lockStaleMs = Math.max(opts.lockStaleMs ?? 10_000, 2000);
  }

  async open(): Promise<SharedPrSnapshot & { alone: () => Promise<boolean> }> {
    const end = this.#watches?.beginOpen(this.#dir);
    try {
      return await this.#open();
    } finally {
      end?.();
    }
  }

  async #open(): Promise<SharedPrSnapshot & { alone: () => Promise<boolean> }> {
    // The users directory is there from the first start on: list it, create it only when that
    // fails (a restart with 1,000 LUNs: 1,000 mkdirs fewer).
    let names: string[] | undefined;
    try {
      names = await readdir(this.#usersDir);
    } catch {
      try {
        await mkdir(this.#usersDir, { recursive: true });
      } catch (err) {
        throw ioError(`cannot create ${this.#usersDir}`, err);
      }
    }
    const alone = !(await this.#othersAlive(names ?? []));
    try {
      await writeMark(join(this.#usersDir, this.#me));
    } catch (err) {
      throw ioError(`cannot mark ${this.#usersDir}`, err);
    }
    this.#markOpen = true;
    this.#ensureTimer();
    // Opened with others (a start with 1,000 LUNs): the listing they share, a few readdirs,
    // not 1,000 failing stats when no PR state was ever written.
    const env = await this.#read(this.#watches?.batch(this.#dir) === true);
    const snap = { version: env.version, doc: env.doc };
    // Asked before this gateway marked itself a user: the answer is kept.
    return { ...snap, alone: () => Promise.resolve(alone) };
  }

  async load(): Promise<SharedPrSnapshot> {
    const env = await this.#read();
    return { version: env.version, doc: env.doc };
  }

  async version(): Promise<number> {
    let sig: string;
    try {
      sig = await this.#sig();
    } catch (err) {
      throw ioError(`cannot stat ${this.path}`, err);
    }
    if (this.#cached !== undefined && this.#cached.sig === sig) return this.#cached.env.version;
    return (await this.#read()).version;
  }

  update<T>(mutator: (cur: SharedPrSnapshot) => { doc?: unknown; result: T }): Promise<{ version: number; result: T }> {
    const run = (): Promise<{ version: number; result: T }> =>
      this.#locked(async () => {
        const cur = await this.#read();
        const out = mutator({ version: cur.version, doc: cur.doc });
        if (out.doc === undefined) return { version: cur.version, result: out.result };
        const next: Envelope = { version: cur.version + 1, doc: out.doc };
        await this.#writeAtomic(next);
        return { version: next.version, result: out.result };
      });
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  watch(onChange: () => void): () => void {
    this.#watchers.add(onChange);
    if (this.#watches !== undefined && this.#useFsWatch) {
      this.#unwatchShared ??= this.#watches.watch(this.#dir, this.#base, () => this.#check(false));
    } else if (this.#fsWatcher === undefined && this.#useFsWatch) {
      try {
        this.#fsWatcher = fs.watch(this.#dir, { persistent: false }, (_event, filename) => {
          if (filename === null || filename === this.#base) this.#check(false);
        });
        this.#fsWatcher.on('error', () => {
          // directory gone or inotify limit: the poll still works
          this.#fsWatcher?.close();
          this.#fsWatcher = undefined;
        });
      } catch {
        this.#fsWatcher = undefined;
      }
    }
    this.#ensureTimer();
    return () => {
      this.#watchers.delete(onChange);
      if (this.#watchers.size === 0) {
        this.#fsWatcher?.close();
        this.#fsWatcher = undefined;
        this.#unwatchShared?.();
        this.#unwatchShared = undefined;
      }
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    this.#unwatchShared?.();
    this.#unwatchShared = undefined;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#queue;
    if (this.#markOpen) {
      this.#markOpen = false;
      const mark = join(this.#usersDir, this.#me);
      if (markTemplate === mark) markTemplate = undefined;
      await unlink(mark).catch(() => undefined);
    }
  }

  // -------------------------------------------------------------------------

  /** One timer per store: the watch poll and the user-mark refresh. */
  #ensureTimer(): void {
    if (this.#timer !== undefined || this.#closed) return;
    let ticks = 0;
    this.#timer = setInterval(() => {
      if (this.#watchers.size > 0) this.#check(true);
      // Refresh the mark a few times per lease.
      if (this.#markOpen && ++ticks * this.#pollMs >= this.#leaseMs / 4) {
        ticks = 0;
        const now = new Date();
        utimes(join(this.#usersDir, this.#me), now, now).catch(() => undefined);
      }
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Notifies the watchers when the file changed since the last check (fs.watch events always notify). */
  #check(fromPoll: boolean): void {
    (fromPoll ? this.#polledSig() : this.#sig()).then(
      (sig) => {
        if (fromPoll && sig === this.#lastSig) return;
        this.#lastSig = sig;
        for (const cb of this.#watchers) {
          try {
            cb();
          } catch {
            // a watcher's failure is its own
          }
        }
      },
      () => undefined,
    );
  }

  /**
   * #sig for the poll: 'none' without a stat when the file was absent at the last check and the
   * directory's shared listing (at most a tenth of the poll interval old) does not have it
   * either. A file that was there, or is listed, is stat'ed. (A file created since the listing
   * is seen by the fs.watch event at once, or by a poll once the listing is read again.)
   */
  async #polledSig(): Promise<string> {
    if (this.#lastSig !== 'none') return this.#sig();
    const names = await this.#watches?.names(this.#dir, this.#pollMs / 10);
    if (names !== undefined && !names.has(this.#base)) return 'none';
    return this.#sig();
  }

  /**
   * #sig for open() while other stores of the directory open too: 'none' without a stat when
   * the shared listing does not have the file and nothing changed in the directory since it
   * was read.
   */
  async #openingSig(): Promise<string> {
    const names = await this.#watches?.names(this.#dir, this.#pollMs / 10, true);
    if (names !== undefined && !names.has(this.#base)) return 'none';
    return this.#sig();
  }

  async #sig(): Promise<string> {
    try {
      const st = await stat(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
      throw err;
    }
  }

  /** Reads the envelope (version 0, no doc when absent). `listed`: absent when the shared listing says so (#openingSig). */
  async #read(listed = false): Promise<Envelope> {
    let sig: string;
    let text: string;
    try {
      // stat before read: if the file is replaced in between, the next version() sees a new signature.
      sig = listed ? await this.#openingSig() : await this.#sig();
      // No file (never written, the usual case): nothing to read (a file created since has another signature).
      if (sig === 'none') return this.#none();
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.#none();
      throw ioError(`cannot read ${this.path}`, err);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new GatewayError('ERR_SCSI_PR_STATE', `persistent reservation state: ${this.path} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    let env: Envelope;
    const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : undefined;
    if (o !== undefined && typeof o['version'] === 'number' && Number.isSafeInteger(o['version']) && o['version'] >= 0 && 'doc' in o) {
      env = { version: o['version'], doc: o['doc'] };
    } else {
      // The older APTPL-only format: the bare document (validated by the reader).
      env = { version: 0, doc: raw };
    }
    this.#cached = { sig, env };
    return env;
  }

  /** The envelope of a store never written (version 0, no document), cached under the absent file's signature. */
  #none(): Envelope {
    const env = { version: 0, doc: undefined };
    this.#cached = { sig: 'none', env };
    return env;
  }

  async #writeAtomic(env: Envelope): Promise<void> {
    const tmp = join(this.#dir, `.${this.#base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(env), 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      this.#watches?.changed(this.#dir);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw ioError(`cannot write ${this.path}`, err);
    }
    try {
      const dh = await open(this.#dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      // some filesystems refuse fsync on directories; the rename is still atomic
    }
  }

  /** Another gateway has this state open now (see the file comment); `names`: the users directory's entries. */
  async #othersAlive(names: readonly string[]): Promise<boolean> {
    const host = hostname().replace(/[^A-Za-z0-9._-]/g, '_');
    const now = Date.now();
    for (const n of names) {
      if (n === this.#me) continue;
      const [h, pidText] = n.split('~');
      const pid = Number(pidText);
      let fresh = false;
      try {
        fresh = now - (await stat(join(this.#usersDir, n))).mtimeMs < this.#leaseMs;
      } catch {
        continue;
      }
      const dead = !fresh || (h === host && Number.isInteger(pid) && pid > 0 && !pidAlive(pid));
      if (dead) {
        await unlink(join(this.#usersDir, n)).catch(() => undefined);
        continue;
      }
      return true;
    }
    return false;
  }

  /** Runs `fn` under the cross-process lock, retrying until lockTimeoutMs. */
  async #locked<R>(fn: () => Promise<R>): Promise<R> {
    try {
      await mkdir(this.#dir, { recursive: true });
    } catch (err) {
      throw ioError(`cannot create ${this.#dir}`, err);
    }
    const deadline = Date.now() + this.#lockTimeoutMs;
    let release: () => Promise<void>;
    let delay = 2;
    for (;;) {
      try {
        release = await (await properLockfile()).lock(this.path, {
          realpath: false,
          lockfilePath: this.#lockPath,
          stale: this.#lockStaleMs,
          retries: 0,
          // Default is to throw from a timer (crashing the process); the write is atomic anyway.
          onCompromised: () => undefined,
        });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw ioError(`cannot lock ${this.path}`, err);
        if (Date.now() >= deadline) throw ioError(`timed out after ${this.#lockTimeoutMs} ms waiting for the lock on ${this.path}`, err);
        // Lock retry back-off (not synchronisation: the lock itself decides).
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 50);
      }
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  }
}
