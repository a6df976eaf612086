/**
 * One SCSI task of the full feature phase: SCSI Command → ScsiPort.prepare →
 * Data-Out collection (immediate data, unsolicited Data-Out, R2T) → execute →
 * Data-In / SCSI Response with residuals. Transport output goes through the
 * TaskSink that connection.ts implements (no PDU encoding here).
 *
 * RFC 7143 §11.3 "SCSI Command", §11.7 "SCSI Data-Out and SCSI Data-In",
 * §11.8 "Ready To Transfer (R2T)", §11.4 "SCSI Response".
 */
import type { Nexus, PreparedCommand, ScsiPort, ScsiRequest, ScsiResult, TaskAttribute } from '../scsi/command.js';
import { ScsiStatus } from '../scsi/command.js';
import { checkCondition } from '../scsi/sense.js';
import type { SessionParams } from './params.js';
import { POOL_MIN, ioBuffers } from '../util/buffer-pool.js';

export const RESERVED_TAG = 0xffffffff;

/** Largest Data-Out payload one task may collect (bytes). */
export const MAX_TASK_DATA_OUT = 64 * 1024 * 1024;

/** Residual flags + count of a response (RFC 7143 §11.4.5). */
export interface Residual {
  overflow: boolean;
  underflow: boolean;
  count: number;
}

export interface DataInArgs {
  itt: number;
  lun: number;
  dataSN: number;
  bufferOffset: number;
  data: Buffer;
  final: boolean;
  /** Present on the last Data-In when the status is collapsed into it (S bit). */
  status?: { scsiStatus: number; residual: Residual };
}

export interface R2TArgs {
  itt: number;
  lun: number;
  ttt: number;
  r2tSN: number;
  bufferOffset: number;
  desiredLength: number;
}

export interface ScsiResponseArgs {
  itt: number;
  status: number;
  sense?: Buffer;
  residual: Residual;
  expDataSN: number;
}

/** What a task needs from its connection. */
export interface TaskSink {
  sendDataIn(a: DataInArgs): void;
  sendR2T(a: R2TArgs): void;
  sendScsiResponse(a: ScsiResponseArgs): void;
  /** A fatal protocol error in this task's data phase: drop the connection (ERL 0). */
  protocolError(reason: string): void;
  /** A recoverable data sequence error (logged; the task fails with CHECK CONDITION). */
  dataPhaseError(task: ScsiTask, reason: string): void;
  /** A new Target Transfer Tag, unique within the connection. */
  allocTtt(): number;
  /** Arms/clears the Data-Out timeout of a task. */
  armDataTimer(task: ScsiTask): void;
  clearDataTimer(task: ScsiTask): void;
  /** Task is ready to run (data complete): the session schedules it by task attribute. */
  ready(task: ScsiTask): void;
  /** Task finished (response sent or discarded): remove it from the tables. */
  finished(task: ScsiTask): void;
  /** The response is about to be sent: free the task's CmdSN window slot so MaxCmdSN in it already reflects that. */
  completing(task: ScsiTask): void;
  /** Runs cb once everything sent so far has been written to the socket (optional: test sinks). */
  whenSent?(cb: () => void): void;
}

export interface ScsiCommandFields {
  itt: number;
  lun: number;
  cmdSN: number;
  immediate: boolean;
  /** F bit: no unsolicited Data-Out follows. */
  final: boolean;
  read: boolean;
  write: boolean;
  attribute: TaskAttribute;
  edtl: number;
  cdb: Buffer;
  /** Immediate data (a view; copied if kept beyond the current call). */
  data: Buffer;
}

interface R2TState {
  ttt: number;
  offset: number;
  length: number;
  received: number;
  nextDataSN: number;
}

export class ScsiTask {
  readonly itt: number;
  readonly lun: number;
  readonly cmdSN: number;
  readonly immediate: boolean;
  readonly attribute: TaskAttribute;
  readonly edtl: number;
  readonly read: boolean;
  readonly write: boolean;
  readonly req: ScsiRequest;
  prepared: PreparedCommand | null = null;
  /** Early result (prepare() failed) waiting for unsolicited data to drain. */
  private earlyResult: ScsiResult | null = null;
  aborted = false;
  /** Set while port.execute() runs. */
  execution: Promise<void> | null = null;
  state: 'collecting' | 'ready' | 'executing' | 'done' = 'collecting';
  /** Counted in the CmdSN window (non-immediate SCSI command). */
  counted = false;

  // Data-Out collection
  private buffer: Buffer | null = null;
  /** Bytes we need: min(dataOutLength, EDTL). */
  private collectLength = 0;
  /** Contiguous bytes received from offset 0 (DataPDUInOrder=Yes). */
  private received = 0;
  private unsolicitedOpen = false;
  private unsolicitedNextDataSN = 0;
  private unsolicitedLimit = 0;
  /** Payloads being read into this.buffer by the framer right now (placement()). */
  private placing = 0;
  /** this.buffer came from ioBuffers. */
  private pooled = false;
  private readonly r2ts = new Map<number, R2TState>();
  private nextR2TOffset = 0;
  private r2tSN = 0;
  private dataInCount = 0;
  /** Last activity (ms) for the Data-Out timeout. */
  lastDataAt = 0;

  constructor(
    fields: ScsiCommandFields,
    nexus: Nexus,
    private readonly port: ScsiPort,
    private readonly params: SessionParams,
    private readonly sink: TaskSink,
  ) {
    this.itt = fields.itt;
    this.lun = fields.lun;
    this.cmdSN = fields.cmdSN;
    this.immediate = fields.immediate;
    this.attribute = fields.attribute;
    this.edtl = fields.edtl;
    this.read = fields.read;
    this.write = fields.write;
    this.req = {
      nexus,
      lun: fields.lun,
      cdb: fields.cdb,
      taskAttribute: fields.attribute,
      expectedDataLength: fields.edtl,
      dataOut: null,
    };
  }

  /**
   * Starts the task (in CmdSN order): prepare, take the immediate data, solicit
   * the rest. Returns false when a protocol error closed the connection.
   */
  start(fields: ScsiCommandFields): boolean {
    const immediateLen = fields.data.length;
    const unsolicitedExpected = fields.write && !fields.final;
    // RFC 7143 §11.3.4: unsolicited data (immediate + Data-Out) is bounded by FirstBurstLength and EDTL.
    this.unsolicitedLimit = Math.min(this.params.firstBurstLength, fields.edtl);
    if (immediateLen > 0 && !this.params.immediateData) {
      this.sink.protocolError('immediate data with ImmediateData=No');
      return false;
    }
    if (unsolicitedExpected && this.params.initialR2T) {
      this.sink.protocolError('unsolicited Data-Out announced (F=0) with InitialR2T=Yes');
      return false;
    }
    if (immediateLen > this.unsolicitedLimit) {
      this.sink.protocolError(`immediate data ${immediateLen} > min(FirstBurstLength, EDTL) ${this.unsolicitedLimit}`);
      return false;
    }
    this.received = immediateLen;
    this.unsolicitedOpen = unsolicitedExpected && immediateLen < this.unsolicitedLimit;
    // Transport checks first: prepare() may consume a unit attention.
    const p = this.port.prepare(this.req);
    if (p.kind === 'result') {
      // prepare() answered (CHECK CONDITION etc.): no data needed; drain unsolicited data first.
      this.earlyResult = p;
      if (this.unsolicitedOpen) {
        this.sink.armDataTimer(this);
        return true;
      }
      this.state = 'ready';
      this.sink.ready(this);
      return true;
    }
    this.prepared = p;
    this.collectLength = fields.write ? Math.min(p.dataOutLength, fields.edtl) : 0;
    if (this.collectLength > MAX_TASK_DATA_OUT) {
      // Far beyond any Block Limits VPD maximum we advertise: refuse rather than buffer it.
      this.prepared = null;
      this.collectLength = 0;
      this.earlyResult = checkCondition('INVALID_FIELD_IN_CDB');
      if (this.unsolicitedOpen) {
        this.sink.armDataTimer(this);
        return true;
      }
      this.state = 'ready';
      this.sink.ready(this);
      return true;
    }
    if (this.collectLength > 0) {
      if (immediateLen > 0 && this.adopt(fields.data)) {
        // The connection read the immediate data into a pooled buffer sized for the whole
        // transfer (Connection.placePayload): it is this task's buffer, no copy.
      } else if (immediateLen >= this.collectLength && !this.unsolicitedOpen) {
        // The immediate data is the whole payload: pass the view (socket chunks are
        // never reused, the framer hands out views of them or a buffer of its own).
        this.buffer = fields.data.subarray(0, this.collectLength);
      } else if (immediateLen > 0) {
        fields.data.copy(this.ownBuffer(), 0, 0, Math.min(immediateLen, this.collectLength));
        ioBuffers.release(fields.data); // a pooled staging buffer (no-op otherwise): copied, unused now
      }
      // else: allocated when the first Data-Out arrives (take()), so commands that
      // announce data and never send it do not pin memory.
    }
    this.nextR2TOffset = this.unsolicitedOpen ? this.unsolicitedLimit : immediateLen;
    return this.advance();
  }

  /** True when this task still expects Data-Out PDUs. */
  get collecting(): boolean {
    return this.state === 'collecting';
  }

  /**
   * One Data-Out PDU for this task. RFC 7143 §11.7: DataSN restarts at 0 for each
   * R2T sequence and for the unsolicited sequence; BufferOffset must follow the
   * previous PDU (DataPDUInOrder=Yes). Returns false on a protocol error.
   */
  dataOut(ttt: number, dataSN: number, bufferOffset: number, data: Buffer, final: boolean): boolean {
    if (this.state !== 'collecting') {
      // Late Data-Out of a task that already failed its data phase or needs none: discarded.
      return true;
    }
    this.lastDataAt = Date.now();
    if (ttt === RESERVED_TAG) {
      if (!this.unsolicitedOpen) {
        this.sink.protocolError('unexpected unsolicited Data-Out');
        return false;
      }
      if (dataSN !== this.unsolicitedNextDataSN || bufferOffset !== this.received) {
        // iscsi-test-cu iSCSIdatasn.iSCSIDataSnInvalid: a wrong DataSN must fail the command.
        return this.failDataPhase(`unsolicited Data-Out DataSN ${dataSN} offset ${bufferOffset}, expected ${this.unsolicitedNextDataSN}/${this.received}`);
      }
      if (bufferOffset + data.length > this.unsolicitedLimit) {
        return this.failDataPhase('unsolicited data beyond FirstBurstLength');
      }
      this.unsolicitedNextDataSN++;
      this.take(bufferOffset, data);
      this.received += data.length;
      if (final || this.received >= this.unsolicitedLimit) {
        this.unsolicitedOpen = false;
        if (!final) return this.failDataPhase('unsolicited data reached FirstBurstLength without F bit');
        // The unsolicited part may have ended short of FirstBurstLength: solicit from there.
        if (this.nextR2TOffset > this.received && this.r2ts.size === 0) this.nextR2TOffset = this.received;
      }
      return this.advance();
    }
    const r = this.r2ts.get(ttt);
    if (r === undefined) return this.failDataPhase(`Data-Out with unknown TTT 0x${ttt.toString(16)}`);
    if (dataSN !== r.nextDataSN || bufferOffset !== r.offset + r.received) {
      return this.failDataPhase(`Data-Out DataSN ${dataSN} offset ${bufferOffset}, expected ${r.nextDataSN}/${r.offset + r.received}`);
    }
    if (r.received + data.length > r.length) return this.failDataPhase('Data-Out beyond the R2T desired length');
    r.nextDataSN++;
    this.take(bufferOffset, data);
    r.received += data.length;
    if (r.received === r.length) {
      if (!final) return this.failDataPhase('R2T sequence complete without F bit');
      this.r2ts.delete(ttt);
      this.received = Math.max(this.received, r.offset + r.length);
    } else if (final) {
      return this.failDataPhase('F bit before the R2T sequence completed');
    }
    return this.advance();
  }

  /**
   * A Data-Out sequence error (DataSN, BufferOffset, TTT, length): at ERL 0 the
   * command cannot be recovered; it ends with CHECK CONDITION, ABORTED COMMAND /
   * DATA PHASE ERROR and the connection stays up (later Data-Out PDUs of this
   * task are discarded as unknown). iscsi-test-cu iSCSIdatasn expects the
   * command to fail without losing the session.
   */
  private failDataPhase(reason: string): boolean {
    this.sink.dataPhaseError(this, reason);
    this.r2ts.clear();
    this.unsolicitedOpen = false;
    this.prepared = null;
    this.earlyResult = checkCondition('DATA_PHASE_ERROR');
    this.sink.clearDataTimer(this);
    this.state = 'ready';
    this.sink.ready(this);
    return false;
  }

  private take(offset: number, data: Buffer): void {
    if (offset >= this.collectLength || data.length === 0) return; // overflow part (EDTL > needed): discard
    const buf = this.buffer ?? this.ownBuffer();
    if (data.buffer === buf.buffer && data.byteOffset === buf.byteOffset + offset) return; // read in place (placement())
    data.copy(buf, offset, 0, Math.min(data.length, buf.length - offset));
  }

  /**
   * Where the payload of a coming Data-Out PDU (its header only has been read) may be read
   * in place: the slice of this task's buffer that dataOut() would copy it to, when the
   * PDU fits what is expected (same checks as dataOut, but the DataSN, checked on arrival).
   * undefined: let the framer buffer it as usual.
   */
  placement(ttt: number, bufferOffset: number, length: number): Buffer | undefined {
    if (this.state !== 'collecting' || this.aborted || length === 0 || bufferOffset + length > this.collectLength) return undefined;
    if (ttt === RESERVED_TAG) {
      if (!this.unsolicitedOpen || bufferOffset !== this.received || bufferOffset + length > this.unsolicitedLimit) return undefined;
    } else {
      const r = this.r2ts.get(ttt);
      if (r === undefined || bufferOffset !== r.offset + r.received || r.received + length > r.length) return undefined;
    }
    const buf = this.buffer ?? this.ownBuffer();
    this.placing++;
    return buf.subarray(bufferOffset, bufferOffset + length);
  }

  /** The framer has filled (or given up on) the slice placement() returned. */
  placed(): void {
    this.placing--;
    if (this.state === 'done' && this.placing === 0) this.releaseBuffer();
  }

  /**
   * The task's own Data-Out buffer. Large ones come from the shared pool: they carry block
   * data that the backstore does not keep after write() settles. Small ones (parameter
   * lists: PR OUT, MODE SELECT, UNMAP, XCOPY) are plain, as handlers may keep views of them.
   */
  private ownBuffer(): Buffer {
    const n = this.collectLength;
    this.pooled = n >= POOL_MIN;
    const buf = this.pooled ? ioBuffers.acquire(n) : Buffer.allocUnsafe(n);
    this.buffer = buf;
    return buf;
  }

  /**
   * Takes `data` (the immediate data) as this task's Data-Out buffer when it is a view at the
   * start of a pooled buffer large enough for the whole transfer.
   */
  private adopt(data: Buffer): boolean {
    const ab = data.buffer;
    if (data.byteOffset !== 0 || !ioBuffers.owns(data) || ab.byteLength < this.collectLength) return false;
    this.buffer = Buffer.from(ab, 0, this.collectLength);
    this.pooled = true;
    return true;
  }

  /** Back to the pool once nothing can use it: no execution pending (finish) and no payload being placed. */
  private releaseBuffer(): void {
    const buf = this.buffer;
    if (buf !== null && this.pooled) ioBuffers.release(buf);
    this.buffer = null;
    this.pooled = false;
    this.req.dataOut = null;
  }

  /** Issue R2Ts while allowed; hand the task over when all data is in. */
  private advance(): boolean {
    if (this.unsolicitedOpen) {
      this.sink.armDataTimer(this);
      return true;
    }
    if (this.earlyResult !== null) {
      this.sink.clearDataTimer(this);
      this.state = 'ready';
      this.sink.ready(this);
      return true;
    }
    // RFC 7143 §11.8: at most MaxOutstandingR2T R2Ts, each ≤ MaxBurstLength.
    while (this.r2ts.size < this.params.maxOutstandingR2T && this.nextR2TOffset < this.collectLength) {
      const len = Math.min(this.params.maxBurstLength, this.collectLength - this.nextR2TOffset);
      const ttt = this.sink.allocTtt();
      const r: R2TState = { ttt, offset: this.nextR2TOffset, length: len, received: 0, nextDataSN: 0 };
      this.r2ts.set(ttt, r);
      this.nextR2TOffset += len;
      this.sink.sendR2T({ itt: this.itt, lun: this.lun, ttt, r2tSN: this.r2tSN++, bufferOffset: r.offset, desiredLength: len });
    }
    if (this.r2ts.size > 0) {
      this.sink.armDataTimer(this);
      return true;
    }
    this.sink.clearDataTimer(this);
    this.req.dataOut = this.buffer ?? (this.collectLength === 0 && this.prepared !== null && this.prepared.dataOutLength > 0 ? Buffer.alloc(0) : null);
    this.state = 'ready';
    this.sink.ready(this);
    return true;
  }

  /** Runs the command (called by the session scheduler) and sends the response. */
  run(): Promise<void> {
    if (this.aborted) {
      this.finish();
      return Promise.resolve();
    }
    this.state = 'executing';
    const early = this.earlyResult;
    if (early !== null) {
      this.respond(early);
      return Promise.resolve();
    }
    const prepared = this.prepared as PreparedCommand;
    let exec: Promise<ScsiResult>;
    try {
      exec = this.port.execute(this.req, prepared);
    } catch (err) {
      // ScsiPort.execute() must not throw; if it does, the command fails, not the process.
      exec = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const p = exec.then(
      (res) => this.respond(res),
      () => this.respond(checkCondition('INTERNAL_TARGET_FAILURE')),
    );
    this.execution = p;
    return p;
  }

  private respond(res: ScsiResult): void {
    try {
      this.respondUnsafe(res);
    } catch (err) {
      // An encoding failure must not escape into a promise chain: drop the connection instead.
      this.finish();
      this.sink.protocolError(`cannot send the response: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private respondUnsafe(res: ScsiResult): void {
    this.execution = null;
    const dataIn = res.dataIn;
    // A read's Data-In buffer from the shared pool goes back once nothing refers to it.
    const pooledIn = dataIn !== undefined && ioBuffers.owns(dataIn) && dataIn.buffer !== this.buffer?.buffer ? dataIn : undefined;
    if (this.aborted) {
      // SAM-5: an aborted task sends no response.
      if (pooledIn !== undefined) ioBuffers.release(pooledIn);
      this.finish();
      return;
    }
    this.sink.completing(this);
    const edtl = this.edtl;
    let residual: Residual = { overflow: false, underflow: false, count: 0 };
    // Residuals (RFC 7143 §11.4.5, SAM-5 "residual"): against what the command needed
    // for the write direction, against what it returned for everything else.
    const writeDir = this.write || (this.prepared !== null && this.prepared.dataOutLength > 0);
    if (writeDir) {
      if (this.prepared !== null) {
        const needed = this.prepared.dataOutLength;
        if (needed > edtl) residual = { overflow: true, underflow: false, count: needed - edtl };
        else if (needed < edtl) residual = { overflow: false, underflow: true, count: edtl - needed };
      }
    } else {
      const n = dataIn?.length ?? 0;
      if (n > edtl) residual = { overflow: true, underflow: false, count: n - edtl };
      else if (n < edtl) residual = { overflow: false, underflow: true, count: edtl - n };
    }
    const sendLen = dataIn !== undefined && !writeDir ? Math.min(dataIn.length, edtl) : 0;
    // RFC 7143 §11.7.4: status may ride on the final Data-In only for GOOD without sense.
    const collapse = sendLen > 0 && res.status === ScsiStatus.GOOD && res.sense === undefined;
    if (sendLen > 0 && dataIn !== undefined) {
      const mrdsl = this.params.initiatorMaxRecvDataSegmentLength;
      let dataSN = 0;
      for (let off = 0; off < sendLen; off += mrdsl) {
        const end = Math.min(off + mrdsl, sendLen);
        const last = end === sendLen;
        const args: DataInArgs = {
          itt: this.itt,
          lun: this.lun,
          dataSN: dataSN++,
          bufferOffset: off,
          data: dataIn.subarray(off, end),
          final: last,
        };
        if (last && collapse) args.status = { scsiStatus: res.status, residual };
        this.sink.sendDataIn(args);
      }
      this.dataInCount = dataSN;
    }
    if (!collapse) {
      const r: ScsiResponseArgs = {
        itt: this.itt,
        status: res.status,
        residual,
        expDataSN: this.write ? this.r2tSN : this.dataInCount,
      };
      if (res.sense !== undefined) r.sense = res.sense;
      this.sink.sendScsiResponse(r);
    }
    // Released once the socket has written the Data-In PDUs (views of it); if the
    // connection fails first, the GC takes it instead.
    if (pooledIn !== undefined) this.sink.whenSent?.(() => ioBuffers.release(pooledIn));
    this.finish();
  }

  /** Abort (TMF / logout / session end): no response will be sent. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.req.aborted = true;
    this.sink.clearDataTimer(this);
    if (this.state === 'collecting' || this.state === 'ready') this.finish();
  }

  private finish(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.sink.clearDataTimer(this);
    // finish() runs only when no execution is pending (after respond, or before run).
    if (this.placing === 0) this.releaseBuffer();
    this.sink.finished(this);
  }
}
