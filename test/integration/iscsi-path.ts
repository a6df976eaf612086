/**
 * One iSCSI session over one TCP connection (a "path" of the multipath initiator), written from
 * RFC 7143 on top of mini-initiator.ts's wire pieces. Unlike MiniInitiator it keeps many commands
 * in flight: received PDUs are routed by Initiator Task Tag, R2Ts are answered with Data-Out,
 * the CmdSN window (MaxCmdSN) is honoured, target pings are answered, and Async Messages are
 * handed to the owner. Every command has a deadline; a connection that closes fails its tasks.
 *
 *   const s = await PathSession.open({ host, port, initiatorName, targetName, isid, loginTimeoutMs: 3000 });
 *   const r = await s.command(0, CDB.read16(0, 8), { readLength: 4096 }, 3000); // { status, data, sense }
 *   await s.logout(1000);
 *
 * Failures of the transport reject with PathError (kind 'timeout' | 'closed' | 'refused' | 'login'
 * | 'rejected'); SCSI outcomes (CHECK CONDITION, BUSY, ...) resolve, with status and sense.
 */
import net from 'node:net';
import { loginExchange, lunField, nopOutReply, pad4, scsiCommandPdu, responseStatusAndSense, takePdu, type RawPdu, type ScsiReply } from './mini-initiator.js';

export type PathErrorKind = 'timeout' | 'closed' | 'refused' | 'login' | 'rejected';

export class PathError extends Error {
  constructor(
    readonly kind: PathErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'PathError';
  }
}

/** RFC 7143 §11.9 Asynchronous Message: the event code and its three parameters (+ sense for event 0). */
export interface AsyncMessage {
  event: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
  /** SCSI Async Event (event 0): the sense data it carries. */
  sense: Buffer;
}

/** RFC 7143 §11.9.1 AsyncEvent codes. */
export const ASYNC_EVENT = { SCSI: 0, LOGOUT_REQUEST: 1, CONNECTION_DROP: 2, SESSION_DROP: 3, NEGOTIATION_REQUEST: 4, TASK_TERMINATION: 5 } as const;

export interface PathSessionOptions {
  host: string;
  port: number;
  initiatorName: string;
  targetName: string;
  /** 6-byte ISID: each path of one initiator logs in with its own. */
  isid: Buffer;
  /** Bound on TCP connect + login. */
  loginTimeoutMs: number;
  onAsync?: (m: AsyncMessage) => void;
  /** Called once when the connection is gone (closed by either side or by close()). */
  onClose?: (why: string) => void;
}

interface Task {
  itt: number;
  resolve: (r: ScsiReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  lun: number;
  dataIn: Buffer;
  dataInEnd: number;
  dataOut: Buffer | undefined;
}

/** RFC 1982 serial comparison over 32 bits: a > b. */
function snGt(a: number, b: number): boolean {
  return a !== b && ((a - b) | 0) > 0;
}

export class PathSession {
  private buf: Buffer = Buffer.alloc(0);
  private readonly tasks = new Map<number, Task>();
  /** PDUs waiting for the CmdSN window (RFC 7143 §3.2.2.1: CmdSN must not pass MaxCmdSN). */
  private readonly windowQueue: (() => void)[] = [];
  private loginInbox: RawPdu[] = [];
  private loginWaiter: (() => void) | undefined;
  private inLogin = true;
  private cmdSN = 1;
  private expStatSN = 0;
  private maxCmdSN = 1;
  private itt = 0x100;
  private logoutWaiter: ((response: number) => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private closedWhy: string | undefined;
  /** Negotiated and declared values the target sent at login. */
  keys = new Map<string, string>();

  private constructor(
    private readonly sock: net.Socket,
    private readonly opts: PathSessionOptions,
  ) {
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('close', () => this.gone('connection closed'));
    sock.on('error', (e: Error) => this.gone(`socket error: ${e.message}`));
  }

  /** Connects and logs in; rejects with PathError('refused' | 'timeout' | 'closed' | 'login'). */
  static async open(opts: PathSessionOptions): Promise<PathSession> {
    const sock = net.connect({ host: opts.host, port: opts.port });
    sock.setNoDelay(true);
    const s = new PathSession(sock, opts);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PathError('timeout', `no login to ${opts.host}:${opts.port} within ${opts.loginTimeoutMs} ms`)), opts.loginTimeoutMs);
    });
    try {
      await Promise.race([s.login(), deadline]);
      return s;
    } catch (e) {
      s.close('login failed');
      if (e instanceof PathError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new PathError('login', `login to ${opts.host}:${opts.port}: ${msg}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async login(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (this.sock.readyState === 'open') return resolve();
      this.sock.once('connect', () => resolve());
      this.sock.once('error', (e: NodeJS.ErrnoException) =>
        reject(new PathError(e.code === 'ECONNREFUSED' ? 'refused' : 'closed', `connect ${this.opts.host}:${this.opts.port}: ${e.message}`)),
      );
      this.sock.once('close', () => reject(new PathError('closed', `connect ${this.opts.host}:${this.opts.port}: closed`)));
    });
    const io = { send: (b: Buffer) => void this.sock.write(b), next: () => this.nextLoginPdu() };
    const r = await loginExchange(io, {
      initiatorName: this.opts.initiatorName,
      targetName: this.opts.targetName,
      isid: this.opts.isid,
      itt: this.itt,
      cmdSN: this.cmdSN,
    });
    this.keys = r.keys;
    this.expStatSN = r.expStatSN;
    this.cmdSN = r.expCmdSN;
    this.maxCmdSN = r.maxCmdSN;
    this.inLogin = false;
  }

  private async nextLoginPdu(): Promise<RawPdu> {
    for (;;) {
      const p = this.loginInbox.shift();
      if (p) return p;
      if (this.closedWhy !== undefined) throw new PathError('closed', `login: ${this.closedWhy}`);
      await new Promise<void>((resolve) => {
        this.loginWaiter = resolve;
      });
    }
  }

  get closed(): boolean {
    return this.closedWhy !== undefined;
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.tasks.size;
  }

  /** Resolves when no command is in flight (or the connection is gone). */
  drained(): Promise<void> {
    if (this.tasks.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Drops the connection now; tasks in flight reject with PathError('closed'). */
  close(why = 'closed by the initiator'): void {
    this.sock.destroy();
    this.gone(why);
  }

  private gone(why: string): void {
    if (this.closedWhy !== undefined) return;
    this.closedWhy = why;
    this.sock.destroy();
    const tasks = [...this.tasks.values()];
    this.tasks.clear();
    for (const t of tasks) {
      clearTimeout(t.timer);
      t.reject(new PathError('closed', why));
    }
    this.windowQueue.length = 0;
    this.loginWaiter?.();
    this.logoutWaiter?.(-1);
    for (const w of this.drainWaiters.splice(0)) w();
    this.opts.onClose?.(why);
  }

  /** Immediate-data and PDU size limits the target declared (RFC 7143 §13.12, §13.13, §13.14). */
  private limits(): { immediate: number; mrdsl: number } {
    const num = (k: string, dflt: number): number => {
      const v = Number(this.keys.get(k));
      return Number.isFinite(v) && v > 0 ? v : dflt;
    };
    const mrdsl = num('MaxRecvDataSegmentLength', 8192);
    const immediate = this.keys.get('ImmediateData') === 'No' ? 0 : Math.min(mrdsl, num('FirstBurstLength', 65536));
    return { immediate, mrdsl };
  }

  /**
   * Sends a SCSI command: `readLength` bytes expected in, or `dataOut` written (immediate data up
   * to FirstBurstLength, the rest on R2T). Resolves with status, Data-In and sense; rejects with
   * PathError on timeout (the task is forgotten, the connection left to the caller) or loss.
   */
  command(lun: number, cdb: Buffer, io: { readLength?: number; dataOut?: Buffer }, timeoutMs: number): Promise<ScsiReply> {
    if (this.closedWhy !== undefined) return Promise.reject(new PathError('closed', this.closedWhy));
    return new Promise<ScsiReply>((resolve, reject) => {
      const itt = this.nextItt();
      const readLength = io.readLength ?? 0;
      const task: Task = {
        itt,
        lun,
        resolve,
        reject,
        dataIn: Buffer.alloc(readLength),
        dataInEnd: 0,
        dataOut: io.dataOut,
        timer: setTimeout(() => {
          if (this.tasks.delete(itt)) {
            this.afterTask();
            reject(new PathError('timeout', `no answer within ${timeoutMs} ms`));
          }
        }, timeoutMs),
      };
      this.tasks.set(itt, task);
      this.inWindow(() => {
        if (!this.tasks.has(itt)) return; // timed out while waiting for the window
        const out = io.dataOut ?? Buffer.alloc(0);
        const immediate = out.subarray(0, Math.min(out.length, this.limits().immediate));
        this.sock.write(scsiCommandPdu({ lun, itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, cdb, readLength, writeLength: out.length, immediate }));
        this.cmdSN = (this.cmdSN + 1) >>> 0;
      });
    });
  }

  /** RFC 7143 §11.14 Logout Request (reason 0: close the session), immediate; resolves when answered or after `timeoutMs`. */
  async logout(timeoutMs: number): Promise<void> {
    if (this.closedWhy !== undefined) return;
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x40 | 0x06; // I + Logout Request
    bhs[1] = 0x80; // F, reason 0
    bhs.writeUInt32BE(this.nextItt(), 16);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.logoutWaiter = () => resolve();
      timer = setTimeout(resolve, timeoutMs);
      this.sock.write(bhs);
    });
    clearTimeout(timer);
    this.close('logged out');
  }

  private nextItt(): number {
    this.itt = this.itt >= 0xfffffffe ? 0x100 : this.itt + 1;
    return this.itt;
  }

  private inWindow(send: () => void): void {
    if (snGt(this.cmdSN, this.maxCmdSN) || this.windowQueue.length > 0) this.windowQueue.push(send);
    else send();
  }

  private afterTask(): void {
    if (this.tasks.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const got = takePdu(this.buf);
      if (!got) return;
      this.buf = got.rest;
      if (this.inLogin) {
        this.loginInbox.push(got.pdu);
        this.loginWaiter?.();
        continue;
      }
      try {
        this.onPdu(got.pdu);
      } catch (e) {
        // A PDU this initiator cannot make sense of: the connection is unusable (RFC 7143 §7.2 format error).
        this.close(`bad PDU from the target: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (this.closedWhy !== undefined) return;
    }
  }

  /** Target PDUs carry StatSN at 24 and ExpCmdSN/MaxCmdSN at 28/32 (RFC 7143 §11). */
  private onPdu({ bhs, data }: RawPdu): void {
    const op = bhs.readUInt8(0) & 0x3f;
    const itt = bhs.readUInt32BE(16);
    const maxCmdSN = bhs.readUInt32BE(32);
    if (snGt(maxCmdSN, this.maxCmdSN)) this.maxCmdSN = maxCmdSN;
    const statusCarrying = op === 0x21 || op === 0x26 || op === 0x32 || op === 0x3f || (op === 0x25 && (bhs.readUInt8(1) & 0x01) !== 0);
    if (statusCarrying) {
      const next = (bhs.readUInt32BE(24) + 1) >>> 0;
      if (snGt(next, this.expStatSN)) this.expStatSN = next;
    }
    switch (op) {
      case 0x20: // NOP-In: a ping (TTT != FFFFFFFFh) wants a NOP-Out echoing the TTT (RFC 7143 §11.19)
        if (bhs.readUInt32BE(20) !== 0xffffffff) this.sock.write(nopOutReply(bhs.readUInt32BE(20), this.cmdSN, this.expStatSN));
        break;
      case 0x25: {
        // SCSI Data-In (RFC 7143 §11.7): data at BufferOffset; S bit carries the status.
        const t = this.tasks.get(itt);
        if (!t) break;
        const offset = bhs.readUInt32BE(40);
        data.copy(t.dataIn, offset);
        t.dataInEnd = Math.max(t.dataInEnd, Math.min(t.dataIn.length, offset + data.length));
        if ((bhs.readUInt8(1) & 0x01) !== 0) this.finish(t, { status: bhs.readUInt8(3), data: t.dataIn.subarray(0, t.dataInEnd), sense: Buffer.alloc(0) });
        break;
      }
      case 0x21: {
        const t = this.tasks.get(itt);
        if (!t) break;
        if (bhs.readUInt8(2) !== 0) {
          // RFC 7143 §11.4.3 Response: "target failure", no SCSI status to act on.
          this.fail(t, new PathError('rejected', `iSCSI response 0x${bhs.readUInt8(2).toString(16)} (target failure)`));
          break;
        }
        this.finish(t, { ...responseStatusAndSense(bhs, data), data: t.dataIn.subarray(0, t.dataInEnd) });
        break;
      }
      case 0x31: {
        const t = this.tasks.get(itt);
        if (t) this.sendDataOut(t, bhs);
        break;
      }
      case 0x26: // Logout Response
        this.logoutWaiter?.(bhs.readUInt8(2));
        break;
      case 0x32: {
        // Asynchronous Message (RFC 7143 §11.9): data segment = SenseLength + sense + event data.
        const senseLen = data.length >= 2 ? data.readUInt16BE(0) : 0;
        this.opts.onAsync?.({
          event: bhs.readUInt8(36),
          parameter1: bhs.readUInt16BE(38),
          parameter2: bhs.readUInt16BE(40),
          parameter3: bhs.readUInt16BE(42),
          sense: data.subarray(2, 2 + senseLen),
        });
        break;
      }
      case 0x3f: {
        // Reject (RFC 7143 §11.17): the data segment is the rejected PDU's header.
        const rejected = data.length >= 20 ? this.tasks.get(data.readUInt32BE(16)) : undefined;
        if (rejected) this.fail(rejected, new PathError('rejected', `PDU rejected, reason 0x${bhs.readUInt8(2).toString(16)}`));
        break;
      }
      default:
        break;
    }
    while (this.windowQueue.length > 0 && !snGt(this.cmdSN, this.maxCmdSN)) this.windowQueue.shift()?.();
  }

  /** Data-Out PDUs for one R2T (RFC 7143 §11.8, §11.7): MaxRecvDataSegmentLength each, DataSN from 0. */
  private sendDataOut(t: Task, r2t: Buffer): void {
    const out = t.dataOut;
    if (!out) return;
    const ttt = r2t.readUInt32BE(20);
    const offset = r2t.readUInt32BE(40);
    const end = Math.min(out.length, offset + r2t.readUInt32BE(44));
    const { mrdsl } = this.limits();
    let dataSN = 0;
    for (let o = offset; o < end; o += mrdsl) {
      const n = Math.min(mrdsl, end - o);
      const bhs = Buffer.alloc(48);
      bhs[0] = 0x05; // SCSI Data-Out
      bhs[1] = o + n >= end ? 0x80 : 0x00; // F on the last PDU of the sequence
      bhs.writeUIntBE(n, 5, 3);
      bhs.writeUInt16BE(lunField(t.lun), 8);
      bhs.writeUInt32BE(t.itt, 16);
      bhs.writeUInt32BE(ttt, 20);
      bhs.writeUInt32BE(this.expStatSN, 28);
      bhs.writeUInt32BE(dataSN++, 36);
      bhs.writeUInt32BE(o, 40);
      this.sock.write(Buffer.concat([bhs, out.subarray(o, o + n), Buffer.alloc(pad4(n))]));
    }
  }

  private finish(t: Task, r: ScsiReply): void {
    clearTimeout(t.timer);
    this.tasks.delete(t.itt);
    this.afterTask();
    t.resolve(r);
  }

  private fail(t: Task, e: Error): void {
    clearTimeout(t.timer);
    this.tasks.delete(t.itt);
    this.afterTask();
    t.reject(e);
  }
}
