/**
 * One iSCSI connection (= one session: MaxConnections=1): the per-socket
 * loop framer → handlers, login phase, full feature phase dispatch, StatSN,
 * NOP-In keepalive, Text/SendTargets, Logout, Reject, backpressure.
 *
 * Error classes decide the reaction (STYLE §4.5): a PDU that cannot be decoded
 * → Reject; a framing error / header digest error / data phase violation →
 * connection close. Nothing a peer sends may throw past this file.
 */
import type { Duplex } from 'node:stream';
import {
  AsyncEvent,
  IscsiOp,
  LogoutReason,
  LogoutResponseCode,
  RejectReason,
  RESERVED_TAG,
  ScsiResponseCode,
  loginStatusClass,
  loginStatusDetail,
  opcodeName,
} from './constants.js';
import {
  PduDecodeError,
  decodeLun,
  decodePdu,
  encodeLun,
  type DataOutPdu,
  type LoginRequestPdu,
  type LogoutRequestPdu,
  type NopOutPdu,
  type ScsiCommandPdu,
  type TargetPdu,
  type TaskMgmtRequestPdu,
  type TextRequestPdu,
} from './pdu.js';
import { Framer, FramingError, type RawPdu } from './framer.js';
import { PduWriter } from './writer.js';
import type { LentReads } from './portal.js';
import { ioBuffers, POOL_MAX, POOL_MIN, POOL_SMALLEST } from '../util/buffer-pool.js';
import { snAdd } from '../util/serial.js';
import { decodeText, encodeText, splitText, TextAccumulator, TextAnswer, TextError, type TextPair } from './text.js';
import { LoginMachine, LoginStatus, type LoginOutcome } from './login.js';
import type { LoginGuard } from './login-guard.js';
import type { IscsiTargetRegistry } from './registry.js';
import { Session, buildNexus, type SessionIdentity } from './session.js';
import { ScsiTask, type DataInArgs, type R2TArgs, type ScsiResponseArgs, type TaskSink } from './scsi-task.js';
import type { IscsiStats } from './stats.js';
import { executeTmf } from './tmf.js';
import { sendTargetsAnswer } from './discovery.js';
import { isOperationalKey, LOGIN_KEYS, type SessionParams } from './params.js';
import { TaskAttribute } from '../scsi/command.js';
import { ScsiOp } from '../scsi/constants.js';

/** The pino subset we use. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: object): LoggerLike;
}

export interface ConnectionHost {
  readonly registry: IscsiTargetRegistry;
  readonly logger: LoggerLike;
  readonly loginTimeoutMs: number;
  /** Guessing protection of CHAP logins (absent: none). */
  readonly loginGuard?: LoginGuard | undefined;
  sessionExists(tsih: number): boolean;
  /** Allocates the TSIH of a new session (closing a reinstated one). */
  registerSession(conn: Connection, key: { initiatorName: string; isid: string; targetName: string; tpgt: number }): number;
  connectionClosed(conn: Connection): void;
  /** Full-feature normal sessions of a target other than this connection's (TMF side effects). */
  otherSessions(conn: Connection, targetName: string): Session[];
  /** Counters the metrics exporter reads. */
  readonly stats: IscsiStats;
}

type SocketLike = Duplex & {
  remoteAddress?: string | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
};

/**
 * WRITE (6/10/12/16), WRITE AND VERIFY (10/12/16), ORWRITE (16), WRITE ATOMIC (16): their
 * Data-Out is block data that no handler keeps once the command is done.
 */
const BLOCK_WRITE_OPCODES: ReadonlySet<number> = new Set([
  ScsiOp.WRITE_6,
  ScsiOp.WRITE_10,
  ScsiOp.WRITE_12,
  ScsiOp.WRITE_16,
  ScsiOp.WRITE_AND_VERIFY_10,
  ScsiOp.WRITE_AND_VERIFY_12,
  ScsiOp.WRITE_AND_VERIFY_16,
  ScsiOp.ORWRITE_16,
  ScsiOp.WRITE_ATOMIC_16,
]);

/** Login text is limited to 8192 bytes per PDU until MaxRecvDataSegmentLength is declared (RFC 7143 §13.12). */
const LOGIN_MAX_RECV = 8192;
/** Pause reading when this many tasks are queued beyond the CmdSN window. */
const TASK_HIGH_WATER_FACTOR = 2;

const attributeOf = (a: number): TaskAttribute => {
  switch (a) {
    case 0:
      return TaskAttribute.UNTAGGED;
    case 2:
      return TaskAttribute.ORDERED;
    case 3:
      return TaskAttribute.HEAD_OF_QUEUE;
    case 4:
      return TaskAttribute.ACA;
    default:
      return TaskAttribute.SIMPLE;
  }
};

export class Connection implements TaskSink {
  private readonly log: LoggerLike;
  private readonly framer: Framer;
  private readonly writer: PduWriter;
  private state: 'login' | 'ffp' | 'logout' | 'closed' = 'login';
  private statSN = 0;
  private readonly login: LoginMachine;
  private readonly loginText = new TextAccumulator();
  private loginTimer: NodeJS.Timeout | null = null;
  /** A login request held by the guessing back-off: cancels it. */
  private loginHeld: (() => void) | null = null;
  private session: Session | null = null;
  private identity: SessionIdentity | null = null;
  private params: SessionParams | null = null;
  private sessionType: 'Normal' | 'Discovery' = 'Normal';
  private cid = 0;
  private nextTtt = 1;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  // keepalive
  private lastRx = Date.now();
  private nopTimer: NodeJS.Timeout | null = null;
  private pingTtt: number | null = null;
  private pingSentAt = 0;
  // Data-Out timeout
  private dataTimer: NodeJS.Timeout | null = null;
  private readonly collecting = new Set<ScsiTask>();
  // Text request state (FFP)
  private readonly text = new TextAccumulator();
  private textPending: { ttt: number; chunks: Buffer[]; itt: number } | null = null;
  // held out-of-order SCSI commands' Data-Out PDUs, by ITT
  private readonly heldData = new Map<number, DataOutPdu[]>();
  /** The task whose Data-Out payload the framer is reading in place (placePayload). */
  private placingTask: ScsiTask | undefined = undefined;
  private paused = false;
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private closing = false;

  constructor(
    private readonly socket: SocketLike,
    private readonly host: ConnectionHost,
    reads?: LentReads,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.log = host.logger.child({ remote: this.remoteAddress });
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.login = new LoginMachine({
      registry: host.registry,
      localAddress: this.localAddress,
      localPort: this.localPort,
      sessionExists: (tsih) => host.sessionExists(tsih),
    });
    this.framer = new Framer({
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: LOGIN_MAX_RECV,
      onPdu: (raw: RawPdu) => this.onRawPdu(raw),
      onHeader: (bhs: Buffer) => this.placePayload(bhs),
      onDataDigestError: (raw: RawPdu) => this.onDataDigestError(raw),
      lentChunks: reads !== undefined,
    });
    this.writer = new PduWriter(socket, { headerDigest: false, dataDigest: false });
    if (reads !== undefined) {
      reads.onData = (chunk: Buffer) => this.onData(chunk);
      reads.next = () => (this.state === 'closed' ? undefined : this.framer.nextRead());
      reads.onLanded = (n: number) => this.onData(n);
    }
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => {
      this.log.debug({ err: err.message }, 'socket error');
      this.teardown('socket error');
    });
    socket.on('close', () => this.teardown('socket closed'));
    socket.on('end', () => this.teardown('peer closed'));
    this.loginTimer = setTimeout(() => {
      // RFC 7143 §6.3: a login that does not complete in time is abandoned.
      this.log.warn({ initiator: this.login.initiator }, 'login timeout');
      this.close('login timeout');
    }, host.loginTimeoutMs);
    this.loginTimer.unref?.();
  }

  // -------------------------------------------------------------------------
  // public view for the server

  get isDiscovery(): boolean {
    return this.sessionType === 'Discovery';
  }

  sessionIdentity(): SessionIdentity | null {
    return this.identity;
  }

  /** The FFP session of a normal login, else null. */
  ffpSession(): Session | null {
    return this.state === 'ffp' && this.sessionType === 'Normal' ? this.session : null;
  }

  /** Normal sessions in the full feature phase (discovery sessions are not listed). */
  sessionInfo() {
    const id = this.identity;
    if (id === null || this.state !== 'ffp' || this.sessionType === 'Discovery') return null;
    return {
      targetName: id.targetName,
      initiatorName: id.initiatorName,
      initiatorAlias: id.initiatorAlias,
      isid: id.isid,
      tsih: id.tsih,
      tpgt: id.tpgt,
      remoteAddress: this.remoteAddress,
      localAddress: this.localAddress,
      localPort: this.localPort,
      loginTime: id.loginTime,
      authMethod: id.authMethod,
      mutual: id.mutual,
      connections: 1,
      sessionType: this.sessionType,
      params: this.params,
    };
  }

  /** Close the connection now (session drop). */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.log.info({ reason, initiator: this.identity?.initiatorName }, 'closing connection');
    this.socket.destroy();
    this.teardown(reason);
  }

  /**
   * RFC 7143 §11.9.1 AsyncEvent 1 "logout request": asks the initiator to log
   * out within `seconds` (Parameter3). Normal sessions in the full feature phase only.
   */
  requestLogout(seconds: number): boolean {
    const session = this.session;
    if (session === null || this.state !== 'ffp' || this.sessionType !== 'Normal' || this.closing) return false;
    this.safeWrite({
      opcode: IscsiOp.ASYNC_MESSAGE,
      statSN: this.nextStatSN(),
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
      asyncEvent: AsyncEvent.LOGOUT_REQUEST,
      parameter3: Math.max(0, Math.min(0xffff, Math.round(seconds))),
    });
    return true;
  }

  /** Resolves when the connection has been torn down. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  closeAndWait(reason: string): Promise<void> {
    this.close(reason);
    return this.closedPromise;
  }

  // -------------------------------------------------------------------------
  // input

  /** A read's bytes (a Buffer), or the count of payload bytes read in place (Framer.nextRead). */
  private onData(chunk: Buffer | number): void {
    if (this.state === 'closed') return;
    this.lastRx = Date.now();
    // The writer may have become saturated since the last PDU (it flushes later in the loop).
    if (!this.paused && this.writer.needsDrain) this.checkBackpressure();
    try {
      if (typeof chunk === 'number') this.framer.landed(chunk);
      else this.framer.push(chunk);
    } catch (err) {
      if (err instanceof FramingError) {
        if (err.kind === 'HEADER_DIGEST') this.host.stats.headerDigestErrors++;
        else this.host.stats.framingErrors++;
        this.log.warn({ err: err.message }, 'framing error: closing the connection');
        if (err.kind === 'DATA_SEGMENT_TOO_LONG' && err.bhs !== undefined && this.state === 'ffp') {
          // RFC 7143 §11.17.1: tell the initiator why (Reject, protocol error), then close.
          this.sendReject(RejectReason.PROTOCOL_ERROR, err.bhs);
          this.state = 'logout';
          this.endAfterFlush('data segment too long');
          return;
        }
      } else {
        this.log.error({ err }, 'internal error while handling a PDU: closing the connection');
      }
      this.close('framing error');
    }
  }

  /**
   * A PDU header is in; where its payload goes (undefined: the framer's own view or copy).
   *
   * Data-Out: straight into the task's buffer (no copy of the framer's own, no per-PDU
   * allocation). RFC 7143 §11.7 BHS: ITT at 16, TTT at 20, BufferOffset at 40.
   *
   * SCSI Command with large immediate data (a 1 MiB write sends its first burst so): into a
   * pooled buffer of the command's ExpectedDataTransferLength (§11.3 BHS: W bit 0x20 of byte
   * 1, EDTL at 20), which the task adopts as its Data-Out buffer (ScsiTask.start). Without
   * this, each such command cost a fresh buffer of the framer (external memory that made V8
   * run mark-compact GCs back to back) and a second copy into the task's buffer. The size is
   * bounded as the task's own buffer is (POOL_MAX; larger transfers take the framer's copy).
   * Everything is checked again when the PDU is decoded.
   */
  private placePayload(bhs: Buffer): Buffer | undefined {
    if (this.state !== 'ffp') return undefined;
    const op = bhs.readUInt8(0) & 0x3f;
    if (op === IscsiOp.SCSI_COMMAND) {
      const dsl = bhs.readUIntBE(5, 3);
      // Small payloads only for block writes (CDB opcode at byte 32): parameter lists may be
      // kept by their handlers, so they must not come from the pool.
      if (dsl < POOL_SMALLEST || (dsl < POOL_MIN && !BLOCK_WRITE_OPCODES.has(bhs.readUInt8(32)))) return undefined;
      const edtl = bhs.readUInt32BE(20);
      const size = (bhs.readUInt8(1) & 0x20) !== 0 && edtl >= dsl && edtl <= POOL_MAX ? edtl : dsl;
      return ioBuffers.acquire(size).subarray(0, dsl);
    }
    if (op !== IscsiOp.SCSI_DATA_OUT) return undefined;
    const itt = bhs.readUInt32BE(16);
    if (this.heldData.has(itt)) return undefined;
    const task = (this.session as Session | null)?.tasks.get(itt);
    const dest = task?.placement(bhs.readUInt32BE(20), bhs.readUInt32BE(40), bhs.readUIntBE(5, 3));
    if (dest !== undefined) this.placingTask = task;
    return dest;
  }

  /** The framer is done with the payload placePayload() gave out (delivered or dropped). */
  private endPlacement(): void {
    const t = this.placingTask;
    if (t === undefined) return;
    this.placingTask = undefined;
    t.placed();
  }

  private onDataDigestError(raw: RawPdu): void {
    this.endPlacement();
    this.host.stats.dataDigestErrors++;
    if (this.state !== 'ffp') {
      this.close('data digest error');
      return;
    }
    // RFC 7143 §7.8: a data digest error → Reject (DATA_DIGEST_ERROR) and discard the PDU.
    // At ERL 0 a lost Data-Out cannot be recovered: drop the connection instead.
    if ((raw.bhs.readUInt8(0) & 0x3f) === IscsiOp.SCSI_DATA_OUT) {
      this.close('data digest error on Data-Out');
      return;
    }
    this.sendReject(RejectReason.DATA_DIGEST_ERROR, raw.bhs);
  }

  private onRawPdu(raw: RawPdu): void {
    this.endPlacement();
    // After a failed login, a logout or a cold reset nothing more is processed.
    if (this.state === 'closed' || this.state === 'logout' || this.closing) return;
    let pdu;
    try {
      pdu = decodePdu(raw.bhs, raw.ahs, raw.data);
    } catch (err) {
      if (err instanceof PduDecodeError) {
        if (this.state !== 'ffp') {
          this.close(`undecodable PDU during login: ${err.message}`);
          return;
        }
        this.log.debug({ err: err.message }, 'rejecting PDU');
        this.sendReject(err.reason, raw.bhs);
        return;
      }
      throw err;
    }
    if (this.state === 'login') {
      if (pdu.opcode !== IscsiOp.LOGIN_REQUEST) {
        // RFC 7143 §6.3: only Login Requests before the full feature phase.
        this.close(`${opcodeName(pdu.opcode)} before login completed`);
        return;
      }
      this.onLogin(pdu);
      return;
    }
    this.onFfpPdu(pdu, raw.bhs);
  }

  // -------------------------------------------------------------------------
  // login

  private onLogin(pdu: LoginRequestPdu): void {
    if (this.loginHeld !== null) {
      // RFC 7143 §6.3: a login request waits for its response; one sent meanwhile is a protocol error.
      this.close('login request while the previous one is held');
      return;
    }
    let pairs: TextPair[] | null;
    try {
      pairs = this.loginText.push(pdu.data, pdu.continue);
    } catch (err) {
      this.loginReject(pdu, LoginStatus.INITIATOR_ERROR, err instanceof TextError ? err.message : 'bad text');
      return;
    }
    if (pdu.continue && pdu.transit) {
      // RFC 7143 §11.12.2: "If the C bit is set to 1, the T bit MUST be set to 0."
      this.loginReject(pdu, LoginStatus.INITIATOR_ERROR, 'C and T both set');
      return;
    }
    if (this.statSN === 0 && this.login.currentStage === -1) this.statSN = pdu.expStatSN;
    if (pairs === null) {
      // Continued text: acknowledge with an empty response (RFC 7143 §11.13).
      this.sendLoginResponse(pdu, { status: 0, transit: false, csg: pdu.csg, nsg: 0, data: undefined, tsih: 0 });
      return;
    }
    const complete = pairs;
    const gate = this.host.loginGuard?.gate(this.remoteAddress, this.login.initiator, complete, (check) => {
      this.loginHeld = null;
      if (this.state !== 'login') return;
      if (check) this.answerLogin(pdu, complete);
      else this.loginReject(pdu, LoginStatus.AUTHENTICATION_FAILED, 'guessing back-off', true);
    });
    if (gate?.kind === 'held') this.loginHeld = gate.cancel;
    else if (gate?.kind === 'refuse') this.loginReject(pdu, LoginStatus.AUTHENTICATION_FAILED, 'guessing back-off', true);
    else this.answerLogin(pdu, pairs);
  }

  private answerLogin(pdu: LoginRequestPdu, pairs: TextPair[]): void {
    const isid = Buffer.alloc(6);
    isid.writeUIntBE(pdu.isid, 0, 6);
    let answer;
    try {
      answer = this.login.handle(
        { transit: pdu.transit, csg: pdu.csg, nsg: pdu.nsg, versionMax: pdu.versionMax, versionMin: pdu.versionMin, isid, tsih: pdu.tsih, cid: pdu.cid },
        pairs,
      );
    } catch (err) {
      // The registry failed (e.g. configuration not loaded): a target error, not a crash.
      this.log.error({ err }, 'login failed inside the target');
      this.loginReject(pdu, LoginStatus.TARGET_ERROR, 'internal error');
      return;
    }
    const audited = this.host.loginGuard?.record(this.remoteAddress, this.login.initiator, answer.status, answer.reason, answer.complete?.authMethod === 'CHAP') ?? false;
    if (answer.status !== LoginStatus.SUCCESS) {
      this.loginReject(pdu, answer.status, answer.reason ?? 'login failed', audited);
      return;
    }
    this.cid = pdu.cid;
    const data = answer.pairs.length > 0 ? encodeText(answer.pairs) : undefined;
    if (answer.complete === undefined) {
      this.sendLoginResponse(pdu, { status: 0, transit: answer.transit, csg: answer.csg, nsg: answer.nsg, data, tsih: 0 });
      return;
    }
    this.completeLogin(pdu, answer.complete, data);
  }

  private completeLogin(pdu: LoginRequestPdu, outcome: LoginOutcome, data: Buffer | undefined): void {
    const isidHex = pdu.isid.toString(16).padStart(12, '0');
    const loginTime = new Date();
    this.sessionType = outcome.sessionType;
    this.params = outcome.params;
    const tsih = this.host.registerSession(this, {
      initiatorName: outcome.initiatorName,
      isid: isidHex,
      targetName: outcome.targetName,
      tpgt: outcome.tpgt,
    });
    const identity: SessionIdentity = {
      tsih,
      isid: isidHex,
      initiatorName: outcome.initiatorName,
      initiatorAlias: outcome.initiatorAlias,
      targetName: outcome.targetName,
      tpgt: outcome.tpgt,
      authMethod: outcome.authMethod,
      mutual: outcome.mutual,
      loginTime,
    };
    this.identity = identity;
    let port = null;
    if (outcome.target !== null) {
      try {
        port = outcome.target.openPort(buildNexus(identity.initiatorName, identity.isid, identity.targetName, identity.tpgt));
      } catch (err) {
        this.log.error({ err }, 'openPort failed');
        this.loginReject(pdu, LoginStatus.TARGET_ERROR, 'cannot open the SCSI port');
        return;
      }
    }
    this.session = new Session(identity, outcome.params, outcome.limits, outcome.target, port, pdu.cmdSN);
    this.state = 'ffp';
    this.host.stats.loginSuccesses++;
    if (this.loginTimer !== null) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    this.sendLoginResponse(pdu, { status: 0, transit: true, csg: pdu.csg, nsg: 3, data, tsih, maxCmdSN: this.session.maxCmdSN });
    // RFC 7143 §13.1/§13.12: digests and the declared MaxRecvDataSegmentLength apply
    // from the first PDU after the final Login Response.
    this.writer.setDigests(outcome.params.headerDigest, outcome.params.dataDigest);
    this.framer.setDigests(outcome.params.headerDigest, outcome.params.dataDigest);
    this.framer.setMaxRecvDataSegmentLength(outcome.params.targetMaxRecvDataSegmentLength);
    this.log.info(
      {
        initiator: outcome.initiatorName,
        target: outcome.targetName || undefined,
        type: outcome.sessionType,
        tsih,
        isid: isidHex,
        auth: outcome.authMethod,
        hd: outcome.params.headerDigest,
        dd: outcome.params.dataDigest,
      },
      'login complete',
    );
    this.armNop();
  }

  /** `audited`: the login guard logged it at warn under its budget; this line goes to debug (no flooding). */
  private loginReject(pdu: LoginRequestPdu, status: number, reason: string, audited = false): void {
    this.host.stats.loginFailed(status);
    const entry = { initiator: this.login.initiator, status: `0x${status.toString(16).padStart(4, '0')}`, reason };
    if (audited) this.log.debug(entry, 'login rejected');
    else this.log.info(entry, 'login rejected');
    this.sendLoginResponse(pdu, { status, transit: false, csg: pdu.csg, nsg: 0, data: undefined, tsih: 0 });
    // RFC 7143 §11.13.5: after a failed login the target closes the connection.
    this.endAfterFlush('login failed');
  }

  private sendLoginResponse(
    pdu: LoginRequestPdu,
    r: { status: number; transit: boolean; csg: number; nsg: number; data: Buffer | undefined; tsih: number; maxCmdSN?: number },
  ): void {
    const chunk: TargetPdu = {
      opcode: IscsiOp.LOGIN_RESPONSE,
      transit: r.transit,
      continue: false,
      csg: r.csg,
      nsg: r.transit ? r.nsg : 0,
      versionMax: 0,
      versionActive: 0,
      isid: pdu.isid,
      tsih: r.tsih,
      initiatorTaskTag: pdu.initiatorTaskTag,
      statSN: this.statSN,
      expCmdSN: pdu.cmdSN,
      maxCmdSN: r.maxCmdSN ?? pdu.cmdSN >>> 0,
      statusClass: loginStatusClass(r.status),
      statusDetail: loginStatusDetail(r.status),
    };
    if (r.data !== undefined) chunk.data = r.data;
    this.statSN = snAdd(this.statSN, 1);
    this.writer.write(chunk);
  }

  // -------------------------------------------------------------------------
  // full feature phase

  private onFfpPdu(pdu: ReturnType<typeof decodePdu>, bhs: Buffer): void {
    const session = this.session;
    if (session === null) return;
    if (this.sessionType === 'Discovery') {
      // RFC 7143 §4.3: a discovery session carries only Text and Logout (and NOP-Out pings, tolerated).
      if (pdu.opcode !== IscsiOp.TEXT_REQUEST && pdu.opcode !== IscsiOp.LOGOUT_REQUEST && pdu.opcode !== IscsiOp.NOP_OUT) {
        this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
        return;
      }
    }
    switch (pdu.opcode) {
      case IscsiOp.SCSI_COMMAND:
        this.onScsiCommand(pdu, bhs);
        break;
      case IscsiOp.SCSI_DATA_OUT:
        this.onDataOut(pdu);
        break;
      case IscsiOp.NOP_OUT:
        this.withCmdSN(pdu.cmdSN, pdu.immediate || pdu.initiatorTaskTag === RESERVED_TAG, () => this.onNopOut(pdu));
        break;
      case IscsiOp.TASK_MGMT_REQUEST:
        this.withCmdSN(pdu.cmdSN, pdu.immediate, () => this.onTmf(pdu));
        break;
      case IscsiOp.TEXT_REQUEST:
        this.withCmdSN(pdu.cmdSN, pdu.immediate, () => this.onText(pdu, bhs));
        break;
      case IscsiOp.LOGOUT_REQUEST:
        this.withCmdSN(pdu.cmdSN, pdu.immediate, () => this.onLogout(pdu));
        break;
      case IscsiOp.SNACK_REQUEST:
        // RFC 7143 §11.16: SNACK support is required only at ErrorRecoveryLevel > 0.
        this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
        break;
      case IscsiOp.LOGIN_REQUEST:
        // RFC 7143 §6.3: a Login Request in the full feature phase is a protocol error.
        this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
        break;
      default:
        // Target opcodes sent by an initiator.
        this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
    }
    this.checkBackpressure();
  }

  /** Delivers a request in CmdSN order (RFC 7143 §4.2.2.1); drops it outside the window. */
  private withCmdSN(cmdSN: number, immediate: boolean, deliver: () => void): boolean {
    const session = this.session as Session;
    const v = session.checkCmdSN(cmdSN, immediate);
    if (v === 'drop') {
      this.log.debug({ cmdSN, expCmdSN: session.expCmdSN, maxCmdSN: session.maxCmdSN }, 'CmdSN outside the window: ignored');
      return false;
    }
    if (v === 'hold') {
      session.hold(cmdSN, () => {
        deliver();
        session.advance();
      });
      return true;
    }
    deliver();
    if (!immediate) session.advance();
    return true;
  }

  private onScsiCommand(pdu: ScsiCommandPdu, bhs: Buffer): void {
    const session = this.session as Session;
    if (session.port === null || session.nexus === null) {
      this.sendReject(RejectReason.PROTOCOL_ERROR, bhs);
      return;
    }
    const v = session.checkCmdSN(pdu.cmdSN, pdu.immediate);
    if (v === 'drop') {
      this.log.debug({ cmdSN: pdu.cmdSN, expCmdSN: session.expCmdSN }, 'SCSI command outside the CmdSN window: ignored');
      return;
    }
    if (session.tasks.has(pdu.initiatorTaskTag) || this.heldData.has(pdu.initiatorTaskTag)) {
      // RFC 7143 §11.17.1: "Task in progress" for a reused ITT.
      this.sendReject(RejectReason.TASK_IN_PROGRESS, bhs);
      return;
    }
    if (v === 'hold') {
      const copy: ScsiCommandPdu = { ...pdu, cdb: Buffer.from(pdu.cdb), data: Buffer.from(pdu.data) };
      this.heldData.set(pdu.initiatorTaskTag, []);
      session.hold(pdu.cmdSN, () => {
        const held = this.heldData.get(copy.initiatorTaskTag) ?? [];
        this.heldData.delete(copy.initiatorTaskTag);
        if (!session.takeCancelled(copy.cmdSN)) {
          this.startCommand(copy);
          for (const d of held) this.onDataOut(d);
        }
        session.advance();
      });
      return;
    }
    // An ABORT TASK that arrived before this command cancelled it (RFC 7143 §11.5.1 b).
    if (!pdu.immediate && session.takeCancelled(pdu.cmdSN)) {
      session.advance();
      return;
    }
    this.startCommand(pdu);
    if (!pdu.immediate) session.advance();
  }

  private startCommand(pdu: ScsiCommandPdu): void {
    const session = this.session as Session;
    if (this.state !== 'ffp' || session.port === null || session.nexus === null) return;
    const lun = decodeLun(pdu.lun);
    const fields = {
      itt: pdu.initiatorTaskTag,
      // An unsupported LUN address goes to the device server as an out-of-range LUN (LUN NOT SUPPORTED).
      lun: lun < 0 ? 0xffff : lun,
      cmdSN: pdu.cmdSN,
      immediate: pdu.immediate,
      final: pdu.final,
      read: pdu.read,
      write: pdu.write,
      attribute: attributeOf(pdu.taskAttribute),
      edtl: pdu.expectedDataTransferLength,
      cdb: pdu.cdb,
      data: pdu.data,
    };
    const task = new ScsiTask(fields, session.nexus, session.port, this.params as SessionParams, this);
    session.tasks.set(task.itt, task);
    session.countTask(task);
    task.start(fields);
  }

  private onDataOut(pdu: DataOutPdu): void {
    const session = this.session as Session;
    const held = this.heldData.get(pdu.initiatorTaskTag);
    if (held !== undefined) {
      held.push({ ...pdu, data: Buffer.from(pdu.data) });
      return;
    }
    const task = session.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.aborted) {
      // Data for an aborted or unknown task (e.g. after ABORT TASK, or a dropped
      // out-of-window command): discarded (RFC 7143 §11.5.1 allows the initiator to keep sending).
      return;
    }
    task.dataOut(pdu.targetTransferTag, pdu.dataSN, pdu.bufferOffset, pdu.data, pdu.final);
  }

  private onNopOut(pdu: NopOutPdu): void {
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      // Answer to our NOP-In ping (RFC 7143 §11.18.4).
      if (this.pingTtt === pdu.targetTransferTag) this.pingTtt = null;
      if (pdu.initiatorTaskTag === RESERVED_TAG) return;
    }
    if (pdu.initiatorTaskTag === RESERVED_TAG) return; // no response requested
    const session = this.session as Session;
    const maxPing = this.params?.initiatorMaxRecvDataSegmentLength ?? LOGIN_MAX_RECV;
    const out: TargetPdu = {
      opcode: IscsiOp.NOP_IN,
      lun: pdu.lun,
      initiatorTaskTag: pdu.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: this.nextStatSN(),
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
    };
    // RFC 7143 §11.19.2: the ping data is returned (bounded by the initiator's MaxRecvDataSegmentLength).
    if (pdu.data.length > 0) out.data = Buffer.from(pdu.data.subarray(0, maxPing));
    this.writer.write(out);
  }

  private onTmf(pdu: TaskMgmtRequestPdu): void {
    const session = this.session as Session;
    const lun = decodeLun(pdu.lun);
    const fn = pdu.function;
    this.host.stats.countTmf(fn);
    const others = (): Session[] => this.host.otherSessions(this, session.id.targetName);
    void executeTmf(session, { fn, lun: lun < 0 ? 0xffff : lun, referencedTaskTag: pdu.referencedTaskTag, refCmdSN: pdu.refCmdSN }, others).then(
      (outcome) => {
        if (this.state === 'closed') return;
        this.log.info({ fn, lun, rtt: pdu.referencedTaskTag, response: outcome.response }, 'task management');
        this.safeWrite({
          opcode: IscsiOp.TASK_MGMT_RESPONSE,
          response: outcome.response,
          initiatorTaskTag: pdu.initiatorTaskTag,
          statSN: this.nextStatSN(),
          expCmdSN: session.expCmdSN,
          maxCmdSN: session.maxCmdSN,
        });
        if (outcome.dropSession) this.endAfterFlush('target cold reset');
      },
      (err: unknown) => {
        this.log.error({ err }, 'task management failed');
        this.close('task management failure');
      },
    );
  }

  private onText(pdu: TextRequestPdu, bhs: Buffer): void {
    const session = this.session as Session;
    const itt = pdu.initiatorTaskTag;
    const mrdsl = this.params?.initiatorMaxRecvDataSegmentLength ?? LOGIN_MAX_RECV;
    const reply = (data: Buffer | undefined, final: boolean, ttt: number): void => {
      const out: TargetPdu = {
        opcode: IscsiOp.TEXT_RESPONSE,
        final,
        continue: !final && data !== undefined && data.length > 0,
        initiatorTaskTag: itt,
        targetTransferTag: ttt,
        statSN: this.nextStatSN(),
        expCmdSN: session.expCmdSN,
        maxCmdSN: session.maxCmdSN,
      };
      if (data !== undefined && data.length > 0) out.data = data;
      this.writer.write(out);
    };
    // Continuation of a long answer (RFC 7143 §11.10.4: the initiator echoes our TTT).
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      const p = this.textPending;
      if (p === null || p.ttt !== pdu.targetTransferTag) {
        // RFC 7143 §11.10.4: a TTT we did not hand out.
        this.sendReject(RejectReason.INVALID_PDU_FIELD, bhs);
        return;
      }
      const next = p.chunks.shift();
      const last = p.chunks.length === 0;
      if (last) this.textPending = null;
      reply(next, last, last ? RESERVED_TAG : p.ttt);
      return;
    }
    this.textPending = null;
    let pairs: TextPair[] | null;
    try {
      pairs = this.text.push(pdu.data, pdu.continue);
    } catch {
      this.text.reset();
      reply(undefined, true, RESERVED_TAG);
      return;
    }
    if (pairs === null) {
      // More request text follows: acknowledge with an empty response and a TTT (RFC 7143 §11.11.4).
      reply(undefined, false, this.allocTtt());
      return;
    }
    const answer: Array<[string, string]> = [];
    for (const { key, value } of pairs) {
      if (key === 'SendTargets') {
        answer.push(
          ...sendTargetsAnswer(this.host.registry, {
            initiatorName: this.identity?.initiatorName ?? '',
            localAddress: this.localAddress,
            localPort: this.localPort,
            value,
            sessionType: this.sessionType,
            sessionTarget: this.identity?.targetName ?? '',
          }),
        );
      } else if (LOGIN_KEYS.has(key) || isOperationalKey(key)) {
        // Renegotiation in the full feature phase is not supported.
        answer.push([key, TextAnswer.REJECT]);
      } else {
        answer.push([key, TextAnswer.NOT_UNDERSTOOD]);
      }
    }
    const data = encodeText(answer);
    const chunks = splitText(data, mrdsl);
    if (chunks.length <= 1) {
      reply(chunks[0], true, RESERVED_TAG);
      return;
    }
    const ttt = this.allocTtt();
    const first = chunks.shift();
    this.textPending = { ttt, chunks, itt };
    reply(first, false, ttt);
  }

  private onLogout(pdu: LogoutRequestPdu): void {
    const session = this.session as Session;
    const respond = (response: number): void => {
      this.safeWrite({
        opcode: IscsiOp.LOGOUT_RESPONSE,
        response,
        initiatorTaskTag: pdu.initiatorTaskTag,
        statSN: this.nextStatSN(),
        expCmdSN: session.expCmdSN,
        maxCmdSN: session.maxCmdSN,
        time2Wait: 0,
        time2Retain: 0,
      });
    };
    if (pdu.reasonCode === LogoutReason.REMOVE_CONNECTION_FOR_RECOVERY) {
      // RFC 7143 §11.15.1: connection recovery needs ErrorRecoveryLevel 2.
      respond(LogoutResponseCode.RECOVERY_NOT_SUPPORTED);
      return;
    }
    if (pdu.reasonCode === LogoutReason.CLOSE_CONNECTION && pdu.cid !== this.cid) {
      respond(LogoutResponseCode.CID_NOT_FOUND);
      return;
    }
    this.state = 'logout';
    this.stopTimers();
    void session.abortAll().then(() => {
      if (this.socket.destroyed || this.state === 'closed') return;
      respond(LogoutResponseCode.CLOSED_SUCCESSFULLY);
      this.log.info({ initiator: this.identity?.initiatorName, reason: pdu.reasonCode }, 'logout');
      this.endAfterFlush('logout');
    });
  }

  // -------------------------------------------------------------------------
  // TaskSink (scsi-task.ts)

  sendDataIn(a: DataInArgs): void {
    const session = this.session as Session;
    const out: TargetPdu = {
      opcode: IscsiOp.SCSI_DATA_IN,
      final: a.final,
      initiatorTaskTag: a.itt,
      // RFC 7143 §11.7.4: the LUN field is reserved unless the A bit is set (ERL 0: never).
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
      dataSN: a.dataSN,
      bufferOffset: a.bufferOffset,
      data: a.data,
    };
    if (a.status !== undefined) {
      out.statusPresent = true;
      out.status = a.status.scsiStatus;
      out.statSN = this.nextStatSN();
      out.residualOverflow = a.status.residual.overflow;
      out.residualUnderflow = a.status.residual.underflow;
      out.residualCount = a.status.residual.count;
      // MaxCmdSN after this task leaves the window
      out.maxCmdSN = session.maxCmdSN;
    }
    this.writer.write(out);
  }

  sendR2T(a: R2TArgs): void {
    const session = this.session as Session;
    this.writer.write({
      opcode: IscsiOp.R2T,
      lun: encodeLun(a.lun < 0x4000 ? a.lun : 0),
      initiatorTaskTag: a.itt,
      targetTransferTag: a.ttt,
      // RFC 7143 §11.8.3: StatSN carries the next StatSN but is not advanced.
      statSN: this.statSN,
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
      r2tSN: a.r2tSN,
      bufferOffset: a.bufferOffset,
      desiredDataTransferLength: a.desiredLength,
    });
  }

  sendScsiResponse(a: ScsiResponseArgs): void {
    const session = this.session as Session;
    const out: TargetPdu = {
      opcode: IscsiOp.SCSI_RESPONSE,
      response: ScsiResponseCode.COMMAND_COMPLETED_AT_TARGET,
      status: a.status,
      initiatorTaskTag: a.itt,
      statSN: this.nextStatSN(),
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
      expDataSN: a.expDataSN,
      residualOverflow: a.residual.overflow,
      residualUnderflow: a.residual.underflow,
      residualCount: a.residual.count,
    };
    if (a.sense !== undefined) out.sense = a.sense;
    this.writer.write(out);
  }

  protocolError(reason: string): void {
    this.log.warn({ reason, initiator: this.identity?.initiatorName }, 'protocol error in the data phase: closing the connection');
    this.close(reason);
  }

  dataPhaseError(task: ScsiTask, reason: string): void {
    this.log.warn({ reason, itt: task.itt, initiator: this.identity?.initiatorName }, 'Data-Out sequence error: failing the command');
  }

  allocTtt(): number {
    const t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0xfffffffe ? 1 : this.nextTtt + 1;
    return t;
  }

  armDataTimer(task: ScsiTask): void {
    task.lastDataAt = Date.now();
    this.collecting.add(task);
    if (this.dataTimer !== null || this.session === null) return;
    const timeoutMs = this.session.limits.dataoutTimeoutSec * 1000;
    const tick = Math.max(50, Math.min(1000, timeoutMs / 4));
    this.dataTimer = setInterval(() => {
      const now = Date.now();
      for (const t of this.collecting) {
        if (now - t.lastDataAt >= timeoutMs) {
          // ceph-iscsi "dataout_timeout": solicited data did not arrive.
          this.log.warn({ itt: t.itt, initiator: this.identity?.initiatorName }, 'Data-Out timeout: closing the connection');
          this.close('dataout timeout');
          return;
        }
      }
      if (this.collecting.size === 0 && this.dataTimer !== null) {
        clearInterval(this.dataTimer);
        this.dataTimer = null;
      }
    }, tick);
    this.dataTimer.unref?.();
  }

  clearDataTimer(task: ScsiTask): void {
    this.collecting.delete(task);
  }

  ready(task: ScsiTask): void {
    (this.session as Session).schedule(task);
  }

  whenSent(cb: () => void): void {
    this.writer.whenSent(cb);
  }

  completing(task: ScsiTask): void {
    this.session?.removeTask(task);
  }

  finished(task: ScsiTask): void {
    const session = this.session;
    if (session === null) return;
    session.removeTask(task);
    this.checkBackpressure();
  }

  // -------------------------------------------------------------------------
  // output helpers

  private nextStatSN(): number {
    const s = this.statSN;
    this.statSN = snAdd(this.statSN, 1);
    return s;
  }

  /** Writes a PDU from an async continuation: an encoding failure closes the connection instead of escaping. */
  private safeWrite(pdu: TargetPdu): void {
    try {
      this.writer.write(pdu);
    } catch (err) {
      this.log.error({ err }, 'cannot encode a PDU: closing the connection');
      this.close('encode failure');
    }
  }

  private sendReject(reason: number, bhs: Buffer): void {
    if (this.state === 'closed') return;
    this.host.stats.countReject(reason);
    const session = this.session;
    this.writer.write({
      opcode: IscsiOp.REJECT,
      reason,
      statSN: this.nextStatSN(),
      expCmdSN: session?.expCmdSN ?? 0,
      maxCmdSN: session?.maxCmdSN ?? 0,
      // RFC 7143 §11.17.3: the data segment is the complete header of the rejected PDU.
      data: Buffer.from(bhs.subarray(0, 48)),
    });
  }

  private endAfterFlush(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.stopTimers();
    this.writer.end();
    // make sure the socket goes away even if the peer never closes its side
    const t = setTimeout(() => this.close(reason), 2000);
    t.unref?.();
  }

  // -------------------------------------------------------------------------
  // keepalive (NOP-In ping)

  private armNop(): void {
    const session = this.session;
    if (session === null || this.state !== 'ffp') return;
    const idleMs = session.limits.nopinTimeoutSec * 1000;
    const respMs = session.limits.nopinResponseTimeoutSec * 1000;
    if (!(idleMs > 0)) return;
    const tick = Math.max(50, Math.min(1000, Math.min(idleMs, respMs) / 4));
    this.nopTimer = setInterval(() => {
      if (this.state !== 'ffp' || this.closing) return;
      const now = Date.now();
      if (this.pingTtt !== null) {
        if (now - this.pingSentAt >= respMs) {
          // ceph-iscsi nopin_response_timeout: the initiator did not answer our ping.
          this.log.warn({ initiator: this.identity?.initiatorName }, 'NOP-In ping not answered: closing the connection');
          this.close('nopin response timeout');
        }
        return;
      }
      if (now - this.lastRx >= idleMs) this.sendPing();
    }, tick);
    this.nopTimer.unref?.();
  }

  private sendPing(): void {
    const session = this.session as Session;
    const ttt = this.allocTtt();
    this.pingTtt = ttt;
    this.pingSentAt = Date.now();
    // RFC 7143 §11.19: a target-initiated NOP-In has ITT 0xffffffff, a real TTT,
    // and StatSN = the next StatSN without advancing it.
    this.writer.write({
      opcode: IscsiOp.NOP_IN,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: ttt,
      statSN: this.statSN,
      expCmdSN: session.expCmdSN,
      maxCmdSN: session.maxCmdSN,
    });
  }

  private stopTimers(): void {
    this.loginHeld?.();
    this.loginHeld = null;
    if (this.nopTimer !== null) clearInterval(this.nopTimer);
    this.nopTimer = null;
    if (this.dataTimer !== null) clearInterval(this.dataTimer);
    this.dataTimer = null;
    if (this.loginTimer !== null) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }

  // -------------------------------------------------------------------------
  // backpressure and teardown

  private checkBackpressure(): void {
    const session = this.session;
    if (session === null || this.state === 'closed') return;
    const high = session.limits.cmdsnDepth * TASK_HIGH_WATER_FACTOR;
    const saturated = session.taskCount >= high || this.writer.needsDrain;
    if (saturated && !this.paused) {
      // STYLE §4.5.4: stop reading while the task table is full or the socket is
      // saturated; PDUs already received stay buffered in the framer.
      this.paused = true;
      this.socket.pause();
      this.framer.pause();
      if (this.writer.needsDrain) {
        void this.writer.drained().then(() => this.checkBackpressure());
      }
    } else if (!saturated && this.paused) {
      this.paused = false;
      this.socket.resume();
      try {
        this.framer.resume();
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'framing error: closing the connection');
        this.close('framing error');
      }
    }
  }

  private teardown(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    this.writer.close();
    if (!this.socket.destroyed) this.socket.destroy();
    const session = this.session;
    this.host.connectionClosed(this);
    if (session === null) {
      this.resolveClosed();
      return;
    }
    session.closed = true;
    // I_T nexus loss: abort everything, wait for in-flight backstore I/O, then release the port.
    void session.abortAll().then(() => {
      try {
        session.port?.close();
      } catch (err) {
        this.log.error({ err }, 'port close failed');
      }
      this.log.debug({ reason, initiator: this.identity?.initiatorName }, 'session ended');
      this.resolveClosed();
    });
  }
}
