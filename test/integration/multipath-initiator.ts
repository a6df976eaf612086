/**
 * A multipath test initiator: one logical device over one iSCSI session per gateway portal, with
 * the policy Linux dm-multipath applies to this target (ceph-iscsi's recommended multipath.conf:
 * path_grouping_policy failover, prio alua, path_checker tur, no_path_retry queue, failback
 * immediate). Built on mini-initiator.ts (wire pieces) and iscsi-path.ts (one session, many
 * commands in flight). Every attempt and every logical I/O is recorded with performance.now()
 * timestamps, so failover tests can measure what a host would see.
 *
 * Path selection (per I/O): among the logged-in paths, the one whose own target port group (from
 * REPORT TARGET PORT GROUPS asked through that path) ranks best: active/optimized, then
 * active/non-optimized, then unknown, transitioning, standby, unavailable, offline; ties go to the
 * order of `paths`. RTPG is asked again on every path change, after a UNIT ATTENTION 29h/2Ah/3Fh
 * (e.g. 2A/06 ASYMMETRIC ACCESS STATE CHANGED), after an ALUA NOT READY, and by the checker.
 *
 * Per attempt:
 *   GOOD, CONDITION MET, RECOVERED ERROR              -> ok
 *   connection lost / refused, iSCSI reject           -> path failed, retried at once elsewhere ('path-lost')
 *   no answer within ioTimeoutMs                      -> path failed, connection dropped, retried ('timeout')
 *   NOT READY 04/0A, 04/0B, 04/0C (ALUA)              -> path's group state taken from the sense; retried on a
 *                                                        better path at once, else on the same after a back-off
 *   NOT READY 04/01, BUSY, TASK SET FULL, TASK ABORTED -> back-off, retried
 *   UNIT ATTENTION                                    -> re-RTPG (29h/2Ah/3Fh), retried (at most uaRetries)
 *   ABORTED COMMAND                                   -> back-off, retried at most abortedRetries, then failed
 *   anything else (MEDIUM ERROR, HARDWARE ERROR, ILLEGAL REQUEST, DATA PROTECT, MISCOMPARE,
 *   RESERVATION CONFLICT, ...)                        -> failed: returned to the caller, not retried
 * Back-off starts at retryBackoffMs and doubles up to retryBackoffMaxMs; it ends early when the
 * path goes down or another path ranks better.
 *
 * Async Messages (RFC 7143 §11.9.1): event 1 (logout request) or 4 (renegotiate): the path takes
 * no new I/O at once, its commands in flight may finish (bounded by Parameter3 and ioTimeoutMs),
 * then it logs out and is failed; events 2/3 (connection/session drop): failed at once, re-login
 * not before Time2Wait (Parameter2); event 0 with a UNIT ATTENTION: re-RTPG.
 *
 * no_path_retry queue: with no path logged in, an I/O waits for one (bounded by giveUpMs per
 * logical I/O, then 'gave-up'). The checker, every checkerIntervalMs per path, re-logs-in failed
 * paths (restoring them: failback) and sends TEST UNIT READY + RTPG on live ones.
 *
 * API
 *   const dev = await MultipathDevice.open({
 *     paths: [{ name: 'gw-a', host: '127.0.0.1', port }, { name: 'gw-b', host: '127.0.0.2', port }],
 *     target: TARGET_IQN, initiator: CLIENT_IQN, lun: 0,
 *     ioTimeoutMs: 3000, checkerIntervalMs: 500, giveUpMs: 30000, // defaults
 *   });
 *   await dev.write(lba, buf);             // resolves IoRecord; rejects IoError (err.record) on failure
 *   const data = await dev.read(lba, n);   // Buffer; rejects IoError
 *   await dev.command(cdb, { readLength }) // any CDB under the same policy: { reply, record }
 *   await dev.readVia('gw-b', lba, n);     // one path only, no failover (UA/BUSY/transitioning retried on it,
 *                                          // standby/unavailable fail; a path that is not up fails at once)
 *   await dev.writeVia('gw-a', lba, buf);
 *   await dev.rtpg('gw-a');                // TpgDescriptor[] asked through that path
 *   await dev.refresh();                   // re-ask RTPG on every live path now (and wait for it)
 *   dev.paths();                           // PathInfo[]: state, ALUA state of its group, counters
 *   await dev.waitForPath('gw-a', { alua: ALUA_STATE.AO, timeoutMs: 10000 });
 *   dev.activePath();                      // where new I/O goes now ('gw-a'), undefined while queueing
 *   dev.records / dev.ios;                 // every attempt (AttemptRecord) / every logical I/O (IoRecord)
 *   dev.events;                            // path events {at, path, kind: up|down|alua|async|login-failed, detail}
 *   await dev.close();                     // stops the checker, logs out every path
 *
 * Timelines (dev.timeline, times are performance.now() ms — take yours with performance.now() too):
 *   firstAckAfter(t, op = 'write', path?)  completion of the first successful write after t
 *   maxAckGap(from, to, op = 'write')      longest stretch without a successful completion
 *   maxLatency(from, to, op?)              the slowest logical I/O (queueing and retries included)
 *   failures(from) / ioOutcomes(from) / attemptOutcomes(from) / senseCounts(from) ("NOT READY 04/0A" -> n)
 *   acksByPath(from, to, op?) / startsByPath(from, to, op?) / summary(from)
 *
 * Self-describing writes (block-writer.ts, re-exported here):
 *   const ledger = new AckLedger();        // shared by writers whose regions overlap
 *   const w = new BlockWriter(dev, { writerId: 1, startLba: 0, regionBlocks: 2048, blocksPerWrite: 8,
 *                                    depth: 4, order: 'sequential' | 'random', via?: 'gw-b', ledger }).start();
 *   ...; const stats = await w.stop();     // or: await w.run(n)   -> { issued, acked, failed, lastError }
 *   const rep = await verifyAcked(dev, ledger, { paths: ['gw-a', 'gw-b'] });  // reads through each path alone
 *   assert.ok(rep.ok, rep.describe());     // rep.problems: {path, lba, kind: stale|superseded|invalid|..., expected/found seq}
 * Reading through a STANDBY/UNAVAILABLE path fails (the target refuses media access there): verify
 * through the paths that can read.
 */
import { randomBytes } from 'node:crypto';
import { ALUA_STATE, CDB, parseReadCapacity16, parseRtpg, parseSense, vpd83Designators, type ScsiReply, type SenseInfo, type TpgDescriptor } from './mini-initiator.js';
import { ASYNC_EVENT, PathError, PathSession, type AsyncMessage } from './iscsi-path.js';
import type { BlockDevice } from './block-writer.js';

export { AckLedger, BlockWriter, judgeBlock, readStamp, stampBlocks, verifyAcked } from './block-writer.js';
export type { BlockDevice, BlockWriterOptions, VerifyProblem, VerifyReport, WriterStats } from './block-writer.js';
export { ALUA_STATE, type TpgDescriptor } from './mini-initiator.js';

export interface PortalPath {
  name: string;
  host: string;
  port: number;
}

export interface MultipathOptions {
  paths: readonly PortalPath[];
  target: string;
  initiator: string;
  lun?: number;
  /** A command without an answer this long fails its path (default 3000). */
  ioTimeoutMs?: number;
  /** Bound on connect + login (default ioTimeoutMs). */
  loginTimeoutMs?: number;
  /** Path checker period per path (default 500). */
  checkerIntervalMs?: number;
  /** Longest a logical I/O may take, queueing and retries included (default 30000). */
  giveUpMs?: number;
  /** First retry back-off (default 50), doubling up to retryBackoffMaxMs (default 500). */
  retryBackoffMs?: number;
  retryBackoffMaxMs?: number;
  abortedRetries?: number;
  uaRetries?: number;
  /** Block size; default: READ CAPACITY (16) at open. */
  blockSize?: number;
  /** open() fails unless this many paths log in (default 1). */
  minPaths?: number;
  /** Receives one line per path event (e.g. t.diagnostic or console.log). */
  log?: (line: string) => void;
}

export type PathState = 'up' | 'down' | 'logging-in' | 'logging-out';

export interface PathInfo {
  name: string;
  host: string;
  port: number;
  state: PathState;
  /** ALUA state of the path's target port group (ALUA_STATE), undefined before the first RTPG. */
  alua: number | undefined;
  aluaName: string;
  tpgId: number | undefined;
  relativePort: number | undefined;
  inFlight: number;
  /** Times the path went down. */
  failures: number;
  lastError: string | undefined;
}

export interface PathEvent {
  at: number;
  path: string;
  kind: 'up' | 'down' | 'alua' | 'async' | 'login-failed';
  detail: string;
}

export type IoOp = 'read' | 'write' | 'command';
export type AttemptOutcome = 'ok' | 'retry' | 'failed' | 'timeout' | 'path-lost';
/** 'gave-up': no path (or no success) within giveUpMs; 'timeout' / 'path-lost': single-path I/O only. */
export type IoOutcome = 'ok' | 'failed' | 'gave-up' | 'timeout' | 'path-lost';

export interface AttemptRecord {
  /** IoRecord.id of the logical I/O. */
  io: number;
  op: IoOp;
  lba: number;
  blocks: number;
  path: string;
  startedAt: number;
  endedAt: number;
  status: number | undefined;
  sense: SenseInfo | undefined;
  outcome: AttemptOutcome;
  detail: string;
}

export interface IoRecord {
  id: number;
  op: IoOp;
  lba: number;
  blocks: number;
  /** Set for single-path I/O (readVia/writeVia). */
  via: string | undefined;
  /** First attempt (queueing included) and final answer, performance.now() ms. */
  startedAt: number;
  endedAt: number;
  outcome: IoOutcome | 'pending';
  attempts: number;
  /** Paths tried, in order (repeats collapsed). */
  paths: string[];
  status: number | undefined;
  sense: SenseInfo | undefined;
  detail: string;
}

export class IoError extends Error {
  constructor(readonly record: IoRecord) {
    super(`${record.op} lba ${record.lba}+${record.blocks}: ${record.outcome} after ${record.attempts} attempt(s) via ${record.paths.join(',') || 'no path'}: ${record.detail}`);
    this.name = 'IoError';
  }
}

const SENSE_KEY_NAMES = ['NO SENSE', 'RECOVERED ERROR', 'NOT READY', 'MEDIUM ERROR', 'HARDWARE ERROR', 'ILLEGAL REQUEST', 'UNIT ATTENTION', 'DATA PROTECT', 'BLANK CHECK', 'VENDOR SPECIFIC', 'COPY ABORTED', 'ABORTED COMMAND', 'RESERVED', 'VOLUME OVERFLOW', 'MISCOMPARE', 'COMPLETED'];

const hex2 = (n: number): string => n.toString(16).padStart(2, '0').toUpperCase();

/** "NOT READY 04/0B" */
export function senseName(s: SenseInfo): string {
  return `${SENSE_KEY_NAMES[s.key] ?? `KEY ${s.key}`} ${hex2(s.asc)}/${hex2(s.ascq)}`;
}

const STATUS_NAMES: Record<number, string> = { 0x00: 'GOOD', 0x02: 'CHECK CONDITION', 0x04: 'CONDITION MET', 0x08: 'BUSY', 0x18: 'RESERVATION CONFLICT', 0x28: 'TASK SET FULL', 0x30: 'ACA ACTIVE', 0x40: 'TASK ABORTED' };

export function statusName(status: number, sense?: SenseInfo): string {
  const s = STATUS_NAMES[status] ?? `STATUS 0x${hex2(status)}`;
  return sense ? `${s} ${senseName(sense)}` : s;
}

export function aluaName(state: number | undefined): string {
  if (state === undefined) return 'unknown';
  const e = Object.entries(ALUA_STATE).find(([, v]) => v === state);
  return e ? e[0] : `0x${hex2(state)}`;
}

/** dm-multipath prio alua, as a rank (lower is better). */
function aluaRank(state: number | undefined): number {
  switch (state) {
    case ALUA_STATE.AO:
      return 0;
    case ALUA_STATE.ANO:
      return 1;
    case undefined:
      return 2;
    case ALUA_STATE.TRANSITIONING:
      return 3;
    case ALUA_STATE.STANDBY:
      return 4;
    case ALUA_STATE.UNAVAILABLE:
      return 5;
    default:
      return 6;
  }
}

/** SPC-4 "LOGICAL UNIT NOT ACCESSIBLE" ASCQs (ASC 04h) -> the ALUA state they report. */
const ALUA_NOT_READY: Record<number, number> = { 0x0a: ALUA_STATE.TRANSITIONING, 0x0b: ALUA_STATE.STANDBY, 0x0c: ALUA_STATE.UNAVAILABLE };
/** UNIT ATTENTION ASCs after which the port groups are asked again (reset, parameters changed, operating conditions changed). */
const UA_REPROBE = new Set([0x29, 0x2a, 0x3f]);

type Verdict =
  | { action: 'ok' }
  | { action: 'fail' }
  | { action: 'backoff' }
  | { action: 'aborted' }
  | { action: 'ua'; reprobe: boolean }
  | { action: 'alua'; state: number };

/** The retry policy: what to do with a SCSI outcome (see the header table). */
export function classify(status: number, sense: SenseInfo | undefined): Verdict {
  switch (status) {
    case 0x00:
    case 0x04:
      return { action: 'ok' };
    case 0x08: // BUSY
    case 0x28: // TASK SET FULL
    case 0x40: // TASK ABORTED
      return { action: 'backoff' };
    case 0x02:
      break;
    default:
      return { action: 'fail' };
  }
  if (!sense) return { action: 'fail' };
  switch (sense.key) {
    case 0x01: // RECOVERED ERROR: the command completed
      return { action: 'ok' };
    case 0x06:
      return { action: 'ua', reprobe: UA_REPROBE.has(sense.asc) };
    case 0x0b:
      return { action: 'aborted' };
    case 0x02: {
      const alua = sense.asc === 0x04 ? ALUA_NOT_READY[sense.ascq] : undefined;
      if (alua !== undefined) return { action: 'alua', state: alua };
      // 04/01 becoming ready, 04/07 operation in progress: wait; other NOT READY: the device says no.
      return sense.asc === 0x04 && (sense.ascq === 0x01 || sense.ascq === 0x07) ? { action: 'backoff' } : { action: 'fail' };
    }
    default:
      return { action: 'fail' };
  }
}

interface PathRt {
  spec: PortalPath;
  isid: Buffer;
  session: PathSession | undefined;
  state: PathState;
  alua: number | undefined;
  tpgId: number | undefined;
  relPort: number | undefined;
  /** No re-login before this instant (Time2Wait of an Async Message). */
  notBefore: number;
  failures: number;
  lastError: string | undefined;
  checkerTimer: NodeJS.Timeout | undefined;
}

interface IoSpec {
  op: IoOp;
  lba: number;
  blocks: number;
  cdb: Buffer;
  readLength?: number;
  dataOut?: Buffer;
}

/** Queries over the attempt and I/O records (all times performance.now() ms). */
export class IoTimeline {
  readonly attempts: AttemptRecord[] = [];
  readonly ios: IoRecord[] = [];

  /** Successful attempts of `op`, in completion order. */
  private acks(op: IoOp): AttemptRecord[] {
    return this.attempts.filter((a) => a.op === op && a.outcome === 'ok').sort((x, y) => x.endedAt - y.endedAt);
  }

  /** Completion time of the first successful `op` (default write) that completed after `t` (through `path` only, when given). */
  firstAckAfter(t: number, op: IoOp = 'write', path?: string): number | undefined {
    return this.acks(op).find((a) => a.endedAt > t && (path === undefined || a.path === path))?.endedAt;
  }

  /**
   * Longest stretch in [from, to] without a successful `op` completion: from `from` to the first
   * completion, between completions, and from the last one to `to`.
   */
  maxAckGap(from: number, to: number, op: IoOp = 'write'): { gapMs: number; start: number; end: number } {
    const ends = this.acks(op).map((a) => a.endedAt).filter((e) => e >= from && e <= to);
    let best = { gapMs: -1, start: from, end: to };
    let prev = from;
    for (const e of [...ends, to]) {
      if (e - prev > best.gapMs) best = { gapMs: e - prev, start: prev, end: e };
      prev = e;
    }
    return best;
  }

  /** Attempts with sense data, counted by "KEY ASC/ASCQ" (optionally only since `from`). */
  senseCounts(from = -Infinity): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts) if (a.sense && a.startedAt >= from) m.set(senseName(a.sense), (m.get(senseName(a.sense)) ?? 0) + 1);
    return m;
  }

  /** Attempts by outcome. */
  attemptOutcomes(from = -Infinity): Record<AttemptOutcome, number> {
    const c: Record<AttemptOutcome, number> = { ok: 0, retry: 0, failed: 0, timeout: 0, 'path-lost': 0 };
    for (const a of this.attempts) if (a.startedAt >= from) c[a.outcome]++;
    return c;
  }

  /** Logical I/Os by final outcome. */
  ioOutcomes(from = -Infinity): Record<IoOutcome | 'pending', number> {
    const c: Record<IoOutcome | 'pending', number> = { ok: 0, failed: 0, 'gave-up': 0, timeout: 0, 'path-lost': 0, pending: 0 };
    for (const r of this.ios) if (r.startedAt >= from) c[r.outcome]++;
    return c;
  }

  /** Logical I/Os that did not end ok. */
  failures(from = -Infinity): IoRecord[] {
    return this.ios.filter((r) => r.startedAt >= from && r.outcome !== 'ok' && r.outcome !== 'pending');
  }

  /** Attempts per path that started in [from, to] (any outcome). */
  startsByPath(from = -Infinity, to = Infinity, op?: IoOp): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts) if (a.startedAt >= from && a.startedAt <= to && (op === undefined || a.op === op)) m.set(a.path, (m.get(a.path) ?? 0) + 1);
    return m;
  }

  /** Successful attempts per path whose completion lies in [from, to]. */
  acksByPath(from = -Infinity, to = Infinity, op?: IoOp): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts) {
      if (a.outcome === 'ok' && a.endedAt >= from && a.endedAt <= to && (op === undefined || a.op === op)) m.set(a.path, (m.get(a.path) ?? 0) + 1);
    }
    return m;
  }

  /** One line for t.diagnostic: I/O and attempt outcomes, acks by path, sense counts, since `from`. */
  summary(from = -Infinity): string {
    const nonZero = (o: Record<string, number>): string =>
      Object.entries(o)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
    const acks = [...this.acksByPath(from)].map(([p, n]) => `${p} ${n}`).join(', ');
    const sense = [...this.senseCounts(from)].map(([k, n]) => `${k} x${n}`).join(', ');
    return `I/Os: ${nonZero(this.ioOutcomes(from)) || 'none'}; attempts: ${nonZero(this.attemptOutcomes(from)) || 'none'}; acks by path: ${acks || 'none'}; sense: ${sense || 'none'}`;
  }

  /** Longest logical I/O (first attempt to final answer) among those started in [from, to]. */
  maxLatency(from = -Infinity, to = Infinity, op?: IoOp): IoRecord | undefined {
    let best: IoRecord | undefined;
    for (const r of this.ios) {
      if (r.startedAt < from || r.startedAt > to || r.outcome === 'pending' || (op !== undefined && r.op !== op)) continue;
      if (!best || r.endedAt - r.startedAt > best.endedAt - best.startedAt) best = r;
    }
    return best;
  }
}

export class MultipathDevice implements BlockDevice {
  readonly timeline = new IoTimeline();
  readonly events: PathEvent[] = [];
  blockSize: number;
  /** Blocks of the LU (READ CAPACITY), 0 when blockSize was given. */
  capacityBlocks = 0;
  private readonly pathList: PathRt[];
  private readonly lun: number;
  private readonly ioTimeoutMs: number;
  private readonly loginTimeoutMs: number;
  private readonly checkerIntervalMs: number;
  private readonly giveUpMs: number;
  private readonly backoffMs: number;
  private readonly backoffMaxMs: number;
  private readonly abortedRetries: number;
  private readonly uaRetries: number;
  private changeWaiters = new Set<() => void>();
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private nextIo = 1;
  private closed = false;

  private constructor(private readonly opts: MultipathOptions) {
    if (new Set(opts.paths.map((p) => p.name)).size !== opts.paths.length) throw new Error('path names must be distinct');
    this.lun = opts.lun ?? 0;
    this.ioTimeoutMs = opts.ioTimeoutMs ?? 3000;
    this.loginTimeoutMs = opts.loginTimeoutMs ?? this.ioTimeoutMs;
    this.checkerIntervalMs = opts.checkerIntervalMs ?? 500;
    this.giveUpMs = opts.giveUpMs ?? 30_000;
    this.backoffMs = opts.retryBackoffMs ?? 50;
    this.backoffMaxMs = opts.retryBackoffMaxMs ?? 500;
    this.abortedRetries = opts.abortedRetries ?? 3;
    this.uaRetries = opts.uaRetries ?? 10;
    this.blockSize = opts.blockSize ?? 512;
    // ISID: random qualifier format (RFC 7143 §11.12.5, type 10b), one per path.
    const base = randomBytes(4);
    this.pathList = opts.paths.map((spec, i) => ({
      spec,
      isid: Buffer.from([0x80, base.readUInt8(0), base.readUInt8(1), base.readUInt8(2), base.readUInt8(3), i + 1]),
      session: undefined,
      state: 'down',
      alua: undefined,
      tpgId: undefined,
      relPort: undefined,
      notBefore: 0,
      failures: 0,
      lastError: undefined,
      checkerTimer: undefined,
    }));
  }

  /** Logs in on every path (in parallel), reads the capacity, starts the path checker. */
  static async open(opts: MultipathOptions): Promise<MultipathDevice> {
    const dev = new MultipathDevice(opts);
    await Promise.all(dev.pathList.map((p) => dev.loginPath(p)));
    const up = dev.pathList.filter((p) => p.state === 'up').length;
    if (up < (opts.minPaths ?? 1)) {
      const why = dev.pathList.map((p) => `${p.spec.name}: ${p.state} ${p.lastError ?? ''}`).join('; ');
      await dev.close();
      throw new Error(`only ${up} of ${dev.pathList.length} paths logged in (${why})`);
    }
    if (opts.blockSize === undefined) {
      const { reply } = await dev.command(CDB.readCapacity16(32), { readLength: 32 });
      const cap = parseReadCapacity16(reply.data);
      dev.blockSize = cap.blockSize;
      dev.capacityBlocks = cap.blocks;
    }
    for (const p of dev.pathList) dev.scheduleCheck(p);
    return dev;
  }

  /** Every attempt, in start order. */
  get records(): readonly AttemptRecord[] {
    return this.timeline.attempts;
  }

  /** Every logical I/O, in start order. */
  get ios(): readonly IoRecord[] {
    return this.timeline.ios;
  }

  pathNames(): string[] {
    return this.pathList.map((p) => p.spec.name);
  }

  paths(): PathInfo[] {
    return this.pathList.map((p) => ({
      name: p.spec.name,
      host: p.spec.host,
      port: p.spec.port,
      state: p.state,
      alua: p.alua,
      aluaName: aluaName(p.alua),
      tpgId: p.tpgId,
      relativePort: p.relPort,
      inFlight: p.session?.inFlight ?? 0,
      failures: p.failures,
      lastError: p.lastError,
    }));
  }

  /** The path new I/O would go to now, or undefined (queueing). */
  activePath(): string | undefined {
    return this.bestUp()?.spec.name;
  }

  // -------------------------------------------------------------------------------------------
  // I/O

  async write(lba: number, data: Buffer): Promise<IoRecord> {
    return (await this.execute(this.writeSpec(lba, data))).record;
  }

  async read(lba: number, blocks: number): Promise<Buffer> {
    return (await this.execute(this.readSpec(lba, blocks))).reply.data;
  }

  /** Single-path write: no failover; fails at once ('path-lost') when that path is not up. */
  async writeVia(path: string, lba: number, data: Buffer): Promise<IoRecord> {
    return (await this.execute(this.writeSpec(lba, data), path)).record;
  }

  /** Single-path read: no failover; fails at once ('path-lost') when that path is not up. */
  async readVia(path: string, lba: number, blocks: number): Promise<Buffer> {
    return (await this.execute(this.readSpec(lba, blocks), path)).reply.data;
  }

  /** Any CDB under the multipath policy (or through `via` only). Rejects IoError unless it ends ok. */
  command(cdb: Buffer, io: { readLength?: number; dataOut?: Buffer; via?: string } = {}): Promise<{ reply: ScsiReply; record: IoRecord }> {
    const spec: IoSpec = { op: 'command', lba: -1, blocks: 0, cdb };
    if (io.readLength !== undefined) spec.readLength = io.readLength;
    if (io.dataOut !== undefined) spec.dataOut = io.dataOut;
    return this.execute(spec, io.via);
  }

  /** Asks every live path for its group state now (what the checker does periodically); resolves when done. */
  refresh(): Promise<void> {
    return this.refreshGroups();
  }

  /** REPORT TARGET PORT GROUPS through `path` (UNIT ATTENTIONs retried), parsed. */
  async rtpg(path: string): Promise<TpgDescriptor[]> {
    const s = this.byName(path).session;
    if (!s) throw new Error(`path ${path} is not logged in`);
    const r = await this.probe(s, CDB.rtpg(4096), 4096);
    if (r.status !== 0) throw new Error(`RTPG via ${path}: ${statusName(r.status, parseSense(r.sense))}`);
    return parseRtpg(r.data);
  }

  private writeSpec(lba: number, data: Buffer): IoSpec {
    if (data.length === 0 || data.length % this.blockSize !== 0) throw new Error(`write of ${data.length} bytes is not a whole number of ${this.blockSize}-byte blocks`);
    const blocks = data.length / this.blockSize;
    return { op: 'write', lba, blocks, cdb: CDB.write16(lba, blocks), dataOut: data };
  }

  private readSpec(lba: number, blocks: number): IoSpec {
    return { op: 'read', lba, blocks, cdb: CDB.read16(lba, blocks), readLength: blocks * this.blockSize };
  }

  private byName(name: string): PathRt {
    const p = this.pathList.find((x) => x.spec.name === name);
    if (!p) throw new Error(`no path named ${name} (have ${this.pathNames().join(', ')})`);
    return p;
  }

  private bestUp(): PathRt | undefined {
    let best: PathRt | undefined;
    for (const p of this.pathList) if (p.state === 'up' && p.session && (!best || aluaRank(p.alua) < aluaRank(best.alua))) best = p;
    return best;
  }

  /** The best usable path, waiting (no_path_retry queue) until `deadline` when there is none. */
  private async pickPath(deadline: number): Promise<PathRt | undefined> {
    for (;;) {
      const p = this.bestUp();
      if (p || this.closed) return p;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await this.nextChange(left);
    }
  }

  /** One logical I/O: attempts under the retry policy until an answer, a failure, or giveUpMs. */
  private async execute(spec: IoSpec, via?: string): Promise<{ reply: ScsiReply; record: IoRecord }> {
    const pinned = via !== undefined ? this.byName(via) : undefined;
    const rec: IoRecord = {
      id: this.nextIo++,
      op: spec.op,
      lba: spec.lba,
      blocks: spec.blocks,
      via,
      startedAt: performance.now(),
      endedAt: Number.NaN,
      outcome: 'pending',
      attempts: 0,
      paths: [],
      status: undefined,
      sense: undefined,
      detail: '',
    };
    this.timeline.ios.push(rec);
    const deadline = rec.startedAt + this.giveUpMs;
    const end = (outcome: IoOutcome, detail: string): never => {
      rec.outcome = outcome;
      rec.detail = detail;
      rec.endedAt = performance.now();
      throw new IoError(rec);
    };
    let backoff = this.backoffMs;
    let aborted = 0;
    let uas = 0;
    /**
     * Waits out the back-off before retrying on `from`, unless first it goes down or another path
     * ranks better. (Not cut short when `from`'s own RTPG turns better: during a transition a
     * target may report AO before its commands stop answering TRANSITIONING.)
     */
    const backOff = async (from: PathRt): Promise<void> => {
      const until = Math.min(performance.now() + backoff, deadline);
      backoff = Math.min(backoff * 2, this.backoffMaxMs);
      for (;;) {
        const left = until - performance.now();
        if (left <= 0 || from.state !== 'up') return;
        const next = pinned ? undefined : this.bestUp();
        if (next && next !== from && aluaRank(next.alua) < aluaRank(from.alua)) return;
        await this.nextChange(left);
      }
    };
    for (;;) {
      if (this.closed) end('gave-up', 'device closed');
      let path: PathRt | undefined;
      if (pinned) {
        if (pinned.state !== 'up' || !pinned.session) end('path-lost', `path ${pinned.spec.name} is ${pinned.state}${pinned.lastError ? ` (${pinned.lastError})` : ''}`);
        path = pinned;
      } else {
        path = await this.pickPath(deadline);
      }
      if (!path?.session) return end('gave-up', rec.detail || `no usable path within ${this.giveUpMs} ms`);
      if (performance.now() > deadline) return end('gave-up', `still failing after ${this.giveUpMs} ms: ${rec.detail}`);
      const session = path.session;
      const name = path.spec.name;
      rec.attempts++;
      if (rec.paths[rec.paths.length - 1] !== name) rec.paths.push(name);
      const att: AttemptRecord = { io: rec.id, op: spec.op, lba: spec.lba, blocks: spec.blocks, path: name, startedAt: performance.now(), endedAt: Number.NaN, status: undefined, sense: undefined, outcome: 'retry', detail: '' };
      this.timeline.attempts.push(att);
      let reply: ScsiReply;
      try {
        const io: { readLength?: number; dataOut?: Buffer } = {};
        if (spec.readLength !== undefined) io.readLength = spec.readLength;
        if (spec.dataOut !== undefined) io.dataOut = spec.dataOut;
        reply = await session.command(this.lun, spec.cdb, io, this.ioTimeoutMs);
      } catch (e) {
        const kind = e instanceof PathError ? e.kind : 'closed';
        const msg = e instanceof Error ? e.message : String(e);
        att.endedAt = performance.now();
        att.outcome = kind === 'timeout' ? 'timeout' : 'path-lost';
        att.detail = `${kind}: ${msg}`;
        rec.detail = `${name} ${att.detail}`;
        this.failPath(path, session, att.detail);
        if (pinned) end(att.outcome, rec.detail);
        continue; // failover at once (or queue)
      }
      att.endedAt = performance.now();
      const sense = parseSense(reply.sense);
      att.status = reply.status;
      att.sense = sense;
      rec.status = reply.status;
      rec.sense = sense;
      att.detail = statusName(reply.status, sense);
      rec.detail = `${name}: ${att.detail}`;
      const v = classify(reply.status, sense);
      switch (v.action) {
        case 'ok':
          att.outcome = 'ok';
          rec.outcome = 'ok';
          rec.endedAt = att.endedAt;
          return { reply, record: rec };
        case 'fail':
          att.outcome = 'failed';
          end('failed', rec.detail);
          break;
        case 'ua':
          if (++uas > this.uaRetries) {
            att.outcome = 'failed';
            end('failed', `${rec.detail} (${uas} unit attentions)`);
          }
          if (v.reprobe) await this.refreshGroups();
          break;
        case 'aborted':
          if (++aborted > this.abortedRetries) {
            att.outcome = 'failed';
            end('failed', `${rec.detail} (${aborted} times)`);
          }
          await backOff(path);
          break;
        case 'backoff':
          await backOff(path);
          break;
        case 'alua': {
          this.setAlua(path, v.state, `sense ${att.detail}`);
          void this.refreshGroups();
          if (pinned && v.state !== ALUA_STATE.TRANSITIONING) {
            att.outcome = 'failed'; // single-path I/O: standby/unavailable will not pass here
            end('failed', rec.detail);
          }
          await backOff(path); // returns at once when a better path is there
          break;
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Path state

  /** Resolves at the next path change (state or ALUA group) or after `ms`. */
  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.changeWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.changeWaiters.add(done);
    });
  }

  private changed(p: PathRt, kind: PathEvent['kind'], detail: string): void {
    const ev: PathEvent = { at: performance.now(), path: p.spec.name, kind, detail };
    this.events.push(ev);
    this.opts.log?.(`[mpath ${ev.at.toFixed(0)}] ${ev.path} ${kind}: ${detail}`);
    for (const w of [...this.changeWaiters]) w();
  }

  /** Waits until `path` is up (and its group in `alua`, when given); throws after `timeoutMs`. */
  async waitForPath(path: string, want: { alua?: number; state?: PathState; timeoutMs?: number } = {}): Promise<PathInfo> {
    const deadline = performance.now() + (want.timeoutMs ?? 15_000);
    const state = want.state ?? 'up';
    for (;;) {
      const info = this.paths().find((p) => p.name === path);
      if (!info) throw new Error(`no path named ${path}`);
      if (info.state === state && (want.alua === undefined || info.alua === want.alua)) return info;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`path ${path} not ${state}${want.alua !== undefined ? `/${aluaName(want.alua)}` : ''} in time: ${JSON.stringify(info)}`);
      await this.nextChange(left);
    }
  }

  private setAlua(p: PathRt, state: number | undefined, why: string): void {
    if (p.alua === state) return;
    const was = p.alua;
    p.alua = state;
    this.changed(p, 'alua', `${aluaName(was)} -> ${aluaName(state)} (${why})`);
  }

  /** Marks `p` failed (if `session` is still its session), drops the connection, re-asks the others. */
  private failPath(p: PathRt, session: PathSession, why: string): void {
    if (p.session !== session) return;
    p.session = undefined;
    p.state = 'down';
    p.failures++;
    p.lastError = why;
    session.close(why);
    this.changed(p, 'down', why);
    void this.refreshGroups();
  }

  /** A command for the path machinery itself (not recorded), UNIT ATTENTIONs retried. */
  private async probe(s: PathSession, cdb: Buffer, alloc: number): Promise<ScsiReply> {
    let r: ScsiReply | undefined;
    for (let i = 0; i < 5; i++) {
      r = await s.command(this.lun, cdb, { readLength: alloc }, this.ioTimeoutMs);
      if (!(r.status === 0x02 && parseSense(r.sense)?.key === 0x06)) return r;
    }
    if (!r) throw new Error('unreachable');
    return r;
  }

  private async loginPath(p: PathRt): Promise<void> {
    if (p.state !== 'down' || this.closed) return;
    p.state = 'logging-in';
    p.tpgId = undefined; // asked again: the portal may be another port now
    p.relPort = undefined;
    let s: PathSession | undefined;
    try {
      s = await PathSession.open({
        host: p.spec.host,
        port: p.spec.port,
        initiatorName: this.opts.initiator,
        targetName: this.opts.target,
        isid: p.isid,
        loginTimeoutMs: this.loginTimeoutMs,
        onAsync: (m) => s && this.onAsync(p, s, m),
        onClose: (why) => s && this.failPath(p, s, `connection lost: ${why}`),
      });
      await this.askRtpg(p, s);
      if (s.closed || this.closed) throw new PathError('closed', 'closed during login');
      p.session = s;
      p.state = 'up';
      this.changed(p, 'up', `logged in (TPG ${p.tpgId ?? '?'}, relative port ${p.relPort ?? '?'}, ${aluaName(p.alua)})`);
      void this.refreshGroups();
    } catch (e) {
      s?.close('login failed');
      const msg = e instanceof Error ? e.message : String(e);
      if (p.state === 'logging-in') p.state = 'down';
      if (p.lastError !== msg) this.changed(p, 'login-failed', msg);
      p.lastError = msg;
    }
  }

  /** RTPG through `s` (the session of `p`): `p`'s group state from its own answer. */
  private async askRtpg(p: PathRt, s: PathSession): Promise<void> {
    let r: ScsiReply;
    try {
      if (p.tpgId === undefined && p.relPort === undefined) {
        // Which target port (group) this path reaches: SPC-4 "Device Identification VPD page".
        // Asked until known (the LUN may not be mapped on this gateway yet).
        const vpd = await this.probe(s, CDB.inquiryVpd(0x83, 1024), 1024);
        if (vpd.status === 0) {
          const d = vpd83Designators(vpd.data);
          const rel = d.get(4);
          const tpg = d.get(5);
          if (rel && rel.length >= 4) p.relPort = rel.readUInt16BE(2);
          if (tpg && tpg.length >= 4) p.tpgId = tpg.readUInt16BE(2);
        }
      }
      r = await this.probe(s, CDB.rtpg(4096), 4096);
    } catch (e) {
      if (e instanceof PathError) this.failPath(p, s, `RTPG: ${e.message}`);
      return;
    }
    if (r.status !== 0) return;
    const groups = parseRtpg(r.data);
    const mine = groups.find((g) => (p.tpgId !== undefined ? g.tpgId === p.tpgId : p.relPort !== undefined && g.relativePorts.includes(p.relPort)));
    this.setAlua(p, mine?.state, 'RTPG');
  }

  /** Asks every live path for its group state; concurrent callers share one round (one more when asked during it). */
  private refreshGroups(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await Promise.all(this.pathList.map((p) => (p.state === 'up' && p.session ? this.askRtpg(p, p.session) : undefined)));
      } while (this.refreshAgain && !this.closed);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private onAsync(p: PathRt, s: PathSession, m: AsyncMessage): void {
    if (p.session !== s && p.state !== 'logging-in') return;
    const detail = `AsyncEvent ${m.event} (${m.parameter1}, ${m.parameter2}, ${m.parameter3})`;
    switch (m.event) {
      case ASYNC_EVENT.LOGOUT_REQUEST:
      case ASYNC_EVENT.NEGOTIATION_REQUEST:
        if (p.state !== 'up') return;
        p.state = 'logging-out'; // no new I/O from now on
        this.changed(p, 'async', `${detail}: logging out`);
        void this.logoutPath(p, s, m.event === ASYNC_EVENT.LOGOUT_REQUEST ? m.parameter3 * 1000 : 0);
        return;
      case ASYNC_EVENT.CONNECTION_DROP:
      case ASYNC_EVENT.SESSION_DROP:
        this.changed(p, 'async', detail);
        if (m.event === ASYNC_EVENT.CONNECTION_DROP) p.notBefore = performance.now() + m.parameter2 * 1000; // Time2Wait
        this.failPath(p, s, `target drops the ${m.event === ASYNC_EVENT.CONNECTION_DROP ? 'connection' : 'session'}`);
        return;
      case ASYNC_EVENT.SCSI: {
        const sense = parseSense(m.sense);
        this.changed(p, 'async', `${detail}${sense ? ` ${senseName(sense)}` : ''}`);
        if (sense?.key === 0x06 && UA_REPROBE.has(sense.asc)) void this.refreshGroups();
        return;
      }
      default:
        this.changed(p, 'async', detail);
    }
  }

  /** Lets the commands in flight finish (at most `graceMs`, bounded by ioTimeoutMs), logs out, fails the path. */
  private async logoutPath(p: PathRt, s: PathSession, graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([s.drained(), new Promise<void>((r) => (timer = setTimeout(r, Math.min(Math.max(graceMs, 0), this.ioTimeoutMs))))]);
    clearTimeout(timer);
    await s.logout(1000);
    this.failPath(p, s, 'logged out at the target\'s request');
  }

  private scheduleCheck(p: PathRt): void {
    if (this.closed) return;
    p.checkerTimer = setTimeout(() => {
      void this.check(p).finally(() => this.scheduleCheck(p));
    }, this.checkerIntervalMs);
  }

  /** path_checker tur: re-login a failed path; TEST UNIT READY + RTPG on a live one. */
  private async check(p: PathRt): Promise<void> {
    if (p.state === 'down') {
      if (performance.now() >= p.notBefore) await this.loginPath(p);
      return;
    }
    const s = p.session;
    if (p.state !== 'up' || !s) return;
    try {
      const r = await s.command(this.lun, CDB.testUnitReady(), {}, this.ioTimeoutMs);
      const sense = parseSense(r.sense);
      const v = classify(r.status, sense);
      if (v.action === 'alua') this.setAlua(p, v.state, `checker: ${statusName(r.status, sense)}`);
    } catch (e) {
      if (e instanceof PathError) this.failPath(p, s, `checker: ${e.message}`);
      return;
    }
    if (p.session === s) await this.askRtpg(p, s);
  }

  /** Stops the checker and logs out every path. Queued I/O ends 'gave-up'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pathList) clearTimeout(p.checkerTimer);
    for (const w of [...this.changeWaiters]) w();
    await Promise.all(
      this.pathList.map(async (p) => {
        const s = p.session;
        p.session = undefined;
        p.state = 'down';
        if (s) await s.logout(1000);
      }),
    );
  }
}
