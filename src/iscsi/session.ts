/**
 * A normal iSCSI session in the full feature phase: identity (ISID/TSIH,
 * nexus), the CmdSN window (RFC 7143 §4.2.2.1), the task table and the
 * scheduling of ready tasks by SAM task attribute. One connection per session
 * (MaxConnections=1), so StatSN lives in the connection.
 */
import { TaskAttribute, type Nexus, type ScsiPort } from '../scsi/command.js';
import type { IscsiTargetNode, TargetLimits } from './registry.js';
import type { SessionParams } from './params.js';
import type { ScsiTask } from './scsi-task.js';
import { snGt, snLt } from '../util/serial.js';

const sn = (n: number): number => n >>> 0;

/** iSCSI TransportID, FORMAT CODE 01b (SPC-4 "iSCSI TransportID"): name + ",i,0x" + ISID. */
export function iscsiTransportId(initiatorName: string, isidHex: string): Buffer {
  const name = Buffer.from(`${initiatorName},i,0x${isidHex}`, 'utf8');
  // byte 0: FORMAT CODE 01b (bits 7-6) | PROTOCOL IDENTIFIER 5h; bytes 2-3: ADDITIONAL LENGTH
  let addl = name.length + 1; // NUL terminated
  addl = (addl + 3) & ~3; // padded to a multiple of 4
  const b = Buffer.alloc(4 + addl);
  b.writeUInt8(0x40 | 0x05, 0);
  b.writeUInt16BE(addl, 2);
  name.copy(b, 4);
  return b;
}

export function buildNexus(initiatorName: string, isidHex: string, targetName: string, tpgt: number): Nexus {
  const initiatorPortName = `${initiatorName},i,0x${isidHex}`;
  const targetPortName = `${targetName},t,0x${tpgt.toString(16).padStart(4, '0')}`;
  return {
    key: `${initiatorPortName}|${targetPortName}`,
    initiatorName,
    initiatorPortName,
    targetName,
    targetPortName,
    relativeTargetPortId: tpgt,
    targetPortGroupId: tpgt,
    transportId: iscsiTransportId(initiatorName, isidHex),
  };
}

export interface SessionIdentity {
  readonly tsih: number;
  readonly isid: string; // 12 hex digits
  readonly initiatorName: string;
  readonly initiatorAlias: string;
  readonly targetName: string;
  readonly tpgt: number;
  readonly authMethod: 'CHAP' | 'None';
  readonly mutual: boolean;
  readonly loginTime: Date;
}

export type CmdSNVerdict = 'now' | 'hold' | 'drop';

export class Session {
  expCmdSN: number;
  private readonly depth: number;
  /** Non-immediate SCSI tasks not yet finished (they hold CmdSN window slots). */
  private outstanding = 0;
  private maxCmdSNValue: number;
  readonly tasks = new Map<number, ScsiTask>();
  /** Out-of-order non-immediate requests waiting for the CmdSN gap to fill. */
  private readonly held = new Map<number, () => void>();
  private readonly cancelled = new Set<number>();
  private barrier: Promise<void> | null = null;
  private readonly running = new Set<Promise<void>>();
  readonly nexus: Nexus | null;
  closed = false;

  constructor(
    readonly id: SessionIdentity,
    readonly params: SessionParams,
    readonly limits: TargetLimits,
    readonly target: IscsiTargetNode | null,
    readonly port: ScsiPort | null,
    initialCmdSN: number,
  ) {
    this.expCmdSN = sn(initialCmdSN);
    this.depth = Math.max(1, Math.min(limits.cmdsnDepth, 0x7fffffff));
    this.maxCmdSNValue = sn(this.expCmdSN + this.depth - 1);
    this.nexus = target === null ? null : buildNexus(id.initiatorName, id.isid, id.targetName, id.tpgt);
  }

  /** RFC 7143 §4.2.2.1: MaxCmdSN - ExpCmdSN + 1 = free window slots; never moves backwards. */
  get maxCmdSN(): number {
    const candidate = sn(this.expCmdSN + this.depth - 1 - this.outstanding);
    if (snGt(candidate, this.maxCmdSNValue)) this.maxCmdSNValue = candidate;
    return this.maxCmdSNValue;
  }

  /**
   * Classify a request's CmdSN. Immediate requests are always delivered and do
   * not advance ExpCmdSN; others outside [ExpCmdSN, MaxCmdSN] are dropped
   * silently ("the target MUST silently ignore any non-immediate command outside
   * of this range"), ahead-of-order ones are held.
   */
  checkCmdSN(cmdSN: number, immediate: boolean): CmdSNVerdict {
    if (immediate) return 'now';
    const c = sn(cmdSN);
    if (snLt(c, this.expCmdSN) || snGt(c, this.maxCmdSN)) return 'drop';
    if (c === this.expCmdSN) return 'now';
    if (this.held.has(c)) return 'drop';
    return 'hold';
  }

  /** Advance ExpCmdSN past a delivered non-immediate request, then deliver held ones in order. */
  advance(): void {
    this.expCmdSN = sn(this.expCmdSN + 1);
    for (;;) {
      const next = this.held.get(this.expCmdSN);
      if (next === undefined) return;
      this.held.delete(this.expCmdSN);
      next(); // the deliverer calls advance() for itself
    }
  }

  /**
   * RFC 7143 §11.5.1 b): ABORT TASK for a command not received yet but inside the
   * window: "consider the CmdSN as received" — when it arrives it is dropped.
   */
  cancel(cmdSN: number): void {
    if (this.cancelled.size < this.depth) this.cancelled.add(sn(cmdSN));
  }

  /** True (once) if this CmdSN was cancelled by an ABORT TASK. */
  takeCancelled(cmdSN: number): boolean {
    return this.cancelled.size > 0 && this.cancelled.delete(sn(cmdSN));
  }

  hold(cmdSN: number, deliver: () => void): void {
    this.held.set(sn(cmdSN), deliver);
  }

  get heldCount(): number {
    return this.held.size;
  }

  countTask(task: ScsiTask): void {
    if (!task.immediate) {
      task.counted = true;
      this.outstanding++;
    }
  }

  /** Remove a finished task; frees its CmdSN window slot. */
  removeTask(task: ScsiTask): void {
    if (this.tasks.get(task.itt) === task) this.tasks.delete(task.itt);
    if (task.counted) {
      task.counted = false;
      this.outstanding--;
    }
  }

  /**
   * Run a task whose data is complete, by SAM task attribute: SIMPLE tasks run
   * concurrently; ORDERED waits for every earlier task and holds later ones;
   * HEAD OF QUEUE runs at once.
   */
  schedule(task: ScsiTask): void {
    const track = (p: Promise<void>): Promise<void> => {
      this.running.add(p);
      p.then(
        () => this.running.delete(p),
        () => this.running.delete(p),
      );
      return p;
    };
    if (task.attribute === TaskAttribute.HEAD_OF_QUEUE) {
      track(task.run());
      return;
    }
    if (task.attribute === TaskAttribute.ORDERED) {
      const prior = [...this.running];
      const p = track(Promise.allSettled(prior).then(() => task.run()));
      this.barrier = p;
      const clear = (): void => {
        if (this.barrier === p) this.barrier = null;
      };
      p.then(clear, clear);
      return;
    }
    const b = this.barrier;
    if (b === null) track(task.run());
    else {
      const run = (): Promise<void> => task.run();
      track(b.then(run, run));
    }
  }

  /** Promises of tasks currently in port.execute(). */
  inFlight(tasks: Iterable<ScsiTask>): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const t of tasks) if (t.execution !== null) out.push(t.execution);
    return out;
  }

  /** Abort every task (logout, connection loss, reset) and wait for in-flight backstore I/O. */
  async abortAll(filter: (t: ScsiTask) => boolean = () => true): Promise<void> {
    const victims = [...this.tasks.values()].filter(filter);
    const inflight = this.inFlight(victims);
    for (const t of victims) t.abort();
    await Promise.allSettled(inflight);
  }

  get taskCount(): number {
    return this.tasks.size;
  }
}
