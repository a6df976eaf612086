/**
 * Self-describing writes and their verification, for failover tests.
 *
 * Every block a BlockWriter writes starts with a stamp {magic, writer id, sequence number, LBA,
 * CRC32C of the whole block}; the rest of the block is a pattern derived from the stamp. An
 * AckLedger keeps, per LBA, the newest acknowledged write of every writer (with the instants its
 * logical I/O started and was acknowledged). verifyAcked() reads every acknowledged LBA back
 * through each named path on its own (no failover) and reports what a lost update or a stale
 * overwrite leaves behind:
 *
 *   - 'invalid'    no valid stamp (never written, torn, or foreign data);
 *   - 'misplaced'  a valid block of another LBA;
 *   - 'foreign'    a writer this ledger never heard of;
 *   - 'stale'      the stamp's writer has acknowledged a newer sequence number for this LBA;
 *   - 'superseded' another writer's acknowledged write started after this one was acknowledged,
 *                  so this one cannot be the current content;
 *   - 'read-failed' the read through that path did not succeed.
 *
 * One writer never has two writes in flight to the same LBA, so "seq >= newest acknowledged seq"
 * is exactly the rule for its own blocks; writes of a logical I/O that failed (never acknowledged)
 * may or may not have landed, and either content passes.
 */
import { crc32c } from '../../src/util/crc32c.js';

/** What BlockWriter and verifyAcked need of a device (MultipathDevice has it; unit tests fake it). */
export interface BlockDevice {
  readonly blockSize: number;
  write(lba: number, data: Buffer): Promise<WriteAck>;
  writeVia(path: string, lba: number, data: Buffer): Promise<WriteAck>;
  readVia(path: string, lba: number, blocks: number): Promise<Buffer>;
  pathNames(): string[];
  /** Resolves at the next path change or after `ms` (pacing after a failed write). */
  nextChange(ms: number): Promise<void>;
}

/** When the logical write started (first attempt) and was acknowledged (performance.now() ms). */
export interface WriteAck {
  startedAt: number;
  endedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Block stamp

const MAGIC = Buffer.from('MPIOBLK1', 'latin1');
/** Bytes 0-7 magic, 8-11 writer, 12-15 block index within the write, 16-23 seq, 24-31 LBA, 32-39 issue time, 40-43 CRC32C. */
export const STAMP_LENGTH = 44;
const CRC_AT = 40;

export interface BlockStamp {
  writer: number;
  seq: number;
  lba: number;
  /** Index of this block within its write. */
  index: number;
  /** performance.now() when the write was built (informational). */
  issuedAt: number;
}

export type StampDefect = 'zero' | 'magic' | 'crc';

/** The content of `blocks` blocks of `blockSize` bytes written by `writer` with `seq` at `lba`. */
export function stampBlocks(writer: number, seq: number, lba: number, blocks: number, blockSize: number, issuedAt = performance.now()): Buffer {
  if (blockSize < STAMP_LENGTH + 4) throw new Error(`block size ${blockSize} too small for a stamp`);
  const out = Buffer.alloc(blocks * blockSize);
  for (let i = 0; i < blocks; i++) {
    const b = out.subarray(i * blockSize, (i + 1) * blockSize);
    MAGIC.copy(b, 0);
    b.writeUInt32BE(writer >>> 0, 8);
    b.writeUInt32BE(i, 12);
    b.writeBigUInt64BE(BigInt(seq), 16);
    b.writeBigUInt64BE(BigInt(lba + i), 24);
    b.writeDoubleBE(issuedAt, 32);
    // Pattern: xorshift32 seeded by the stamp, so equal stamps give equal blocks and a block
    // carrying the right stamp over another write's tail fails the CRC.
    let x = Math.imul(writer, 0x9e3779b1) ^ Math.imul(seq, 0x85ebca6b) ^ Math.imul(lba + i, 0xc2b2ae35) || 1;
    for (let o = STAMP_LENGTH; o + 4 <= blockSize; o += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b.writeInt32BE(x | 0, o);
    }
    b.writeUInt32BE(crc32c(b), CRC_AT); // CRC over the block with the CRC field zero
  }
  return out;
}

/** The stamp of one block, or why it has none. */
export function readStamp(block: Buffer): BlockStamp | StampDefect {
  if (!block.subarray(0, MAGIC.length).equals(MAGIC)) return block.every((v) => v === 0) ? 'zero' : 'magic';
  const copy = Buffer.from(block);
  const crc = copy.readUInt32BE(CRC_AT);
  copy.writeUInt32BE(0, CRC_AT);
  if (crc32c(copy) !== crc) return 'crc';
  return {
    writer: block.readUInt32BE(8),
    index: block.readUInt32BE(12),
    seq: Number(block.readBigUInt64BE(16)),
    lba: Number(block.readBigUInt64BE(24)),
    issuedAt: block.readDoubleBE(32),
  };
}

// ---------------------------------------------------------------------------------------------
// Ledger of acknowledged writes

export interface AckEntry {
  seq: number;
  startedAt: number;
  endedAt: number;
}

export class AckLedger {
  /** lba -> writer -> newest acknowledged write. */
  private readonly byLba = new Map<number, Map<number, AckEntry>>();
  /** writer -> highest sequence number issued (acknowledged or not). */
  private readonly issued = new Map<number, number>();

  noteIssued(writer: number, seq: number): void {
    if (seq > (this.issued.get(writer) ?? -1)) this.issued.set(writer, seq);
  }

  knows(writer: number): boolean {
    return this.issued.has(writer);
  }

  /** Records an acknowledged write of `blocks` blocks at `lba`. */
  recordAck(writer: number, seq: number, lba: number, blocks: number, ack: WriteAck): void {
    this.noteIssued(writer, seq);
    for (let i = 0; i < blocks; i++) {
      let m = this.byLba.get(lba + i);
      if (!m) this.byLba.set(lba + i, (m = new Map()));
      const cur = m.get(writer);
      if (!cur || cur.seq < seq) m.set(writer, { seq, startedAt: ack.startedAt, endedAt: ack.endedAt });
    }
  }

  /** Newest acknowledged write per writer at `lba`. */
  at(lba: number): ReadonlyMap<number, AckEntry> {
    return this.byLba.get(lba) ?? new Map();
  }

  /** LBAs with at least one acknowledged write, ascending. */
  lbas(): number[] {
    return [...this.byLba.keys()].sort((a, b) => a - b);
  }

  get size(): number {
    return this.byLba.size;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

export type ProblemKind = 'invalid' | 'misplaced' | 'foreign' | 'stale' | 'superseded' | 'read-failed';

export interface VerifyProblem {
  path: string;
  lba: number;
  kind: ProblemKind;
  /** The newest acknowledged write at this LBA (latest acknowledgement of any writer). */
  expectedWriter?: number;
  expectedSeq?: number;
  foundWriter?: number;
  foundSeq?: number;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** LBAs checked per path. */
  checked: Record<string, number>;
  problems: VerifyProblem[];
  /** One line per problem (first 20), for assertion messages. */
  describe(): string;
}

/** The judgement of one read block against the ledger (exported for unit tests). */
export function judgeBlock(ledger: AckLedger, lba: number, block: Buffer): Omit<VerifyProblem, 'path'> | undefined {
  const acked = ledger.at(lba);
  let newest: [number, AckEntry] | undefined;
  for (const e of acked) if (!newest || e[1].endedAt > newest[1].endedAt) newest = e;
  const expected = newest ? { expectedWriter: newest[0], expectedSeq: newest[1].seq } : {};
  const st = readStamp(block);
  if (typeof st === 'string') return { lba, kind: 'invalid', ...expected, detail: `no valid stamp (${st})` };
  const found = { foundWriter: st.writer, foundSeq: st.seq };
  if (st.lba !== lba) return { lba, kind: 'misplaced', ...expected, ...found, detail: `block of LBA ${st.lba}` };
  if (!ledger.knows(st.writer)) return { lba, kind: 'foreign', ...expected, ...found, detail: `writer ${st.writer} unknown to the ledger` };
  const own = acked.get(st.writer);
  if (own && own.seq > st.seq) return { lba, kind: 'stale', ...expected, ...found, detail: `writer ${st.writer} acknowledged seq ${own.seq} here` };
  if (own && own.seq === st.seq) {
    for (const [w, e] of acked) {
      if (w !== st.writer && e.startedAt > own.endedAt) {
        return { lba, kind: 'superseded', ...expected, ...found, detail: `writer ${w} seq ${e.seq} started ${(e.startedAt - own.endedAt).toFixed(1)} ms after this write was acknowledged` };
      }
    }
  }
  return undefined;
}

/** Runs of consecutive LBAs, at most `max` long. */
function runs(lbas: readonly number[], max: number): { lba: number; blocks: number }[] {
  const out: { lba: number; blocks: number }[] = [];
  for (const lba of lbas) {
    const last = out[out.length - 1];
    if (last && last.lba + last.blocks === lba && last.blocks < max) last.blocks++;
    else out.push({ lba, blocks: 1 });
  }
  return out;
}

/**
 * Reads every LBA the ledger has an acknowledged write for, through each of `paths` (default: all
 * of the device's paths) separately, and judges each block. Reads go `chunkBlocks` at a time.
 */
export async function verifyAcked(dev: BlockDevice, ledger: AckLedger, opts: { paths?: readonly string[]; chunkBlocks?: number } = {}): Promise<VerifyReport> {
  const paths = opts.paths ?? dev.pathNames();
  const problems: VerifyProblem[] = [];
  const checked: Record<string, number> = {};
  const chunks = runs(ledger.lbas(), opts.chunkBlocks ?? 128);
  for (const path of paths) {
    checked[path] = 0;
    for (const c of chunks) {
      let data: Buffer;
      try {
        data = await dev.readVia(path, c.lba, c.blocks);
      } catch (e) {
        problems.push({ path, lba: c.lba, kind: 'read-failed', detail: `${c.blocks} blocks: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      for (let i = 0; i < c.blocks; i++) {
        const p = judgeBlock(ledger, c.lba + i, data.subarray(i * dev.blockSize, (i + 1) * dev.blockSize));
        if (p) problems.push({ path, ...p });
      }
      checked[path] += c.blocks;
    }
  }
  return {
    ok: problems.length === 0,
    checked,
    problems,
    describe: () =>
      problems
        .slice(0, 20)
        .map((p) => `${p.path} lba ${p.lba}: ${p.kind} (expected writer ${p.expectedWriter ?? '-'} seq ${p.expectedSeq ?? '-'}, found writer ${p.foundWriter ?? '-'} seq ${p.foundSeq ?? '-'}): ${p.detail}`)
        .join('\n') + (problems.length > 20 ? `\n… ${problems.length - 20} more` : ''),
  };
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface BlockWriterOptions {
  /** Written into every block; distinct per writer sharing a ledger. */
  writerId: number;
  /** The region: `regionBlocks` blocks from `startLba`. */
  startLba: number;
  regionBlocks: number;
  /** Blocks per write (default 8). The region is cut into slots of this size. */
  blocksPerWrite?: number;
  /** 'sequential' walks the slots and wraps around (so every LBA is overwritten again); 'random' picks slots (seeded). */
  order?: 'sequential' | 'random';
  /** Writes in flight at once (default 1); never two to the same slot. */
  depth?: number;
  /** Write through this path only (writeVia), else through the multipath device. */
  via?: string;
  /** Shared by writers whose regions overlap (default: a ledger of its own). */
  ledger?: AckLedger;
  /** Stop after this many writes (default: until stop()). */
  maxWrites?: number;
  seed?: number;
}

export interface WriterStats {
  issued: number;
  acked: number;
  failed: number;
  lastError: string | undefined;
}

export class BlockWriter {
  readonly ledger: AckLedger;
  readonly stats: WriterStats = { issued: 0, acked: 0, failed: 0, lastError: undefined };
  private readonly slots: number;
  private readonly perWrite: number;
  private readonly busy = new Set<number>();
  private cursor = 0;
  private seq = 0;
  private rng: number;
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly dev: BlockDevice,
    private readonly opts: BlockWriterOptions,
  ) {
    this.ledger = opts.ledger ?? new AckLedger();
    this.perWrite = opts.blocksPerWrite ?? 8;
    this.slots = Math.floor(opts.regionBlocks / this.perWrite);
    if (this.slots < (opts.depth ?? 1)) throw new Error(`region of ${opts.regionBlocks} blocks has fewer than depth slots of ${this.perWrite}`);
    this.rng = (opts.seed ?? opts.writerId * 2654435761) >>> 0 || 1;
  }

  /** Starts writing in the background until stop() (or maxWrites). */
  start(): this {
    if (this.running) return this;
    this.running = true;
    this.workers = Array.from({ length: this.opts.depth ?? 1 }, () => this.work());
    return this;
  }

  /** Stops issuing and waits for the writes in flight; resolves with the stats. */
  async stop(): Promise<WriterStats> {
    this.running = false;
    await Promise.all(this.workers);
    return this.stats;
  }

  /** Writes `n` writes (with the configured depth) and resolves with the stats. */
  async run(n: number): Promise<WriterStats> {
    const limit = this.stats.issued + n;
    this.running = true;
    this.workers = Array.from({ length: this.opts.depth ?? 1 }, () => this.work(limit));
    await Promise.all(this.workers);
    this.running = false;
    return this.stats;
  }

  private nextSlot(): number {
    if (this.opts.order === 'random') {
      for (;;) {
        this.rng ^= this.rng << 13;
        this.rng ^= this.rng >>> 17;
        this.rng ^= this.rng << 5;
        const s = (this.rng >>> 0) % this.slots;
        if (!this.busy.has(s)) return s;
      }
    }
    for (;;) {
      const s = this.cursor;
      this.cursor = (this.cursor + 1) % this.slots;
      if (!this.busy.has(s)) return s;
    }
  }

  private async work(limit = this.opts.maxWrites ?? Infinity): Promise<void> {
    while (this.running && this.stats.issued < limit) {
      const slot = this.nextSlot();
      this.busy.add(slot);
      const lba = this.opts.startLba + slot * this.perWrite;
      const seq = ++this.seq;
      this.stats.issued++;
      this.ledger.noteIssued(this.opts.writerId, seq);
      const data = stampBlocks(this.opts.writerId, seq, lba, this.perWrite, this.dev.blockSize);
      try {
        const ack = this.opts.via !== undefined ? await this.dev.writeVia(this.opts.via, lba, data) : await this.dev.write(lba, data);
        this.ledger.recordAck(this.opts.writerId, seq, lba, this.perWrite, ack);
        this.stats.acked++;
      } catch (e) {
        this.stats.failed++;
        this.stats.lastError = e instanceof Error ? e.message : String(e);
        await this.dev.nextChange(200); // do not spin on a path that is down
      } finally {
        this.busy.delete(slot);
      }
    }
  }
}
