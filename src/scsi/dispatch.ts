/**
 * The command table and the generic gates (tgt scsi_cmd_perform order, LIO
 * target_cmd_init_cdb): LUN → unit attention → opcode → CDB parse → reservation
 * → ALUA access state → write protect. REPORT SUPPORTED OPERATION CODES is built
 * from the same table. dispatch is the only place that turns errors into sense.
 */
import { GatewayError } from '../util/errors.js';
import { aluaGate } from './alua.js';
import { checkControl, cdbLength, invalidField } from './cdb.js';
import { ScsiStatus, type Nexus, type PreparedCommand, type ScsiRequest, type ScsiResult } from './command.js';
import { MaintenanceIn, ScsiOp } from './constants.js';
import { AluaAllowed, parsed, type CommandDescriptor, type ExecContext, type ExecResult, type PortContext } from './descriptor.js';
import { IoClass, isReadOpcode, type ClientIo } from './io-stats.js';
import type { LogicalUnit } from './logical-unit.js';
import { SBC_COMMANDS, STRICT_DATA_OUT_OPS, THIN_ONLY_OPS } from './sbc.js';
import { SANITIZE_COMMANDS, sanitizeGate } from './sanitize.js';
import { checkCondition, ScsiError, type SenseFormat } from './sense.js';
import { inquiryNoLun, parseReportLuns, reportLunsData, requestSenseNoLun, SPC_COMMANDS } from './spc.js';
import { XCOPY_COMMANDS } from './xcopy.js';

const GOOD: ScsiResult = Object.freeze({ kind: 'result', status: ScsiStatus.GOOD });

// ---- REPORT SUPPORTED OPERATION CODES (SPC-4), built from the table -----------------

function parseRsoc(cdb: Buffer) {
  const options = cdb.readUInt8(2) & 0x07;
  if (options > 0x03) throw invalidField(2, 2);
  checkControl(cdb, 11);
  return parsed(0, cdb.readUInt32BE(6), 0, 0, options | (cdb.readUInt8(2) & 0x80));
}

/** Nominal / recommended command timeout (seconds) reported with RCTD. */
const DEFAULT_TIMEOUT_SEC = 30;

function timeoutsDescriptor(e: CommandDescriptor): Buffer {
  const t = Buffer.alloc(12);
  t.writeUInt16BE(0x0a, 0); // DESCRIPTOR LENGTH
  t.writeUInt32BE(e.timeoutSec ?? DEFAULT_TIMEOUT_SEC, 4); // NOMINAL COMMAND PROCESSING TIMEOUT
  t.writeUInt32BE(e.timeoutSec ?? DEFAULT_TIMEOUT_SEC, 8); // RECOMMENDED COMMAND TIMEOUT
  return t;
}

function executeRsoc(ctx: ExecContext): Buffer {
  const cdb = ctx.req.cdb;
  const rctd = (ctx.p.flags & 0x80) !== 0;
  const options = ctx.p.flags & 0x07;
  const list = commandsFor(ctx.lu);
  if (options === 0) {
    // SPC-4 "All_commands parameter data format".
    const parts: Buffer[] = [];
    for (const e of list) {
      const d = Buffer.alloc(8);
      d.writeUInt8(e.op, 0); // OPERATION CODE
      d.writeUInt16BE(e.sa ?? 0, 2); // SERVICE ACTION
      d.writeUInt8((rctd ? 0x02 : 0) | (e.sa !== undefined ? 0x01 : 0), 5); // CTDP | SERVACTV
      d.writeUInt16BE(e.usage.length, 6); // CDB LENGTH
      parts.push(d);
      if (rctd) parts.push(timeoutsDescriptor(e));
    }
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0); // COMMAND DATA LENGTH
    return Buffer.concat([head, body]);
  }
  // SPC-4 "One_command parameter data format".
  const op = cdb.readUInt8(3);
  const sa = cdb.readUInt16BE(4);
  const hasSa = SA_OPS.has(op);
  if (options === 0x01 && hasSa) throw invalidField(3); // opcode has service actions
  if (options === 0x02 && !hasSa) throw invalidField(3); // opcode has no service actions
  const e = list.find((c) => c.op === op && (!hasSa || c.sa === sa));
  const head = Buffer.alloc(4);
  if (e === undefined) {
    head.writeUInt8(0x01, 1); // SUPPORT 001b: not supported
    return head;
  }
  head.writeUInt8((rctd ? 0x80 : 0) | 0x03, 1); // CTDP | SUPPORT 011b: supported as the standard says
  head.writeUInt16BE(e.usage.length, 2); // CDB SIZE
  const parts: Buffer[] = [head, Buffer.from(e.usage)];
  if (rctd) parts.push(timeoutsDescriptor(e));
  return Buffer.concat(parts);
}

const RSOC: CommandDescriptor = {
  op: ScsiOp.MAINTENANCE_IN,
  sa: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
  name: 'REPORT SUPPORTED OPERATION CODES',
  usage: [0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
  alua: AluaAllowed.UNAVAILABLE,
  pr: false,
  parse: parseRsoc,
  execute: executeRsoc,
};

// ---- the table ------------------------------------------------------------------------

/** Every command, in opcode / service action order. */
export const COMMANDS: readonly CommandDescriptor[] = [...SPC_COMMANDS, ...SBC_COMMANDS, ...SANITIZE_COMMANDS, ...XCOPY_COMMANDS, RSOC].sort(
  (a, b) => a.op - b.op || (a.sa ?? 0) - (b.sa ?? 0),
);

/** Opcodes whose CDB byte 1 bits 4-0 carry a SERVICE ACTION that selects the table entry. */
const SA_OPS: ReadonlySet<number> = new Set(COMMANDS.filter((c) => c.sa !== undefined).map((c) => c.op));

/** opcode → entry, or opcode → (service action → entry). */
const BY_OPCODE: ReadonlyArray<CommandDescriptor | Map<number, CommandDescriptor> | undefined> = (() => {
  const t: Array<CommandDescriptor | Map<number, CommandDescriptor> | undefined> = new Array(256).fill(undefined);
  for (const c of COMMANDS) {
    if (c.sa === undefined) t[c.op] = c;
    else {
      let m = t[c.op];
      if (!(m instanceof Map)) {
        m = new Map();
        t[c.op] = m;
      }
      m.set(c.sa, c);
    }
  }
  return t;
})();

/** Whether an LU supports a command (UNMAP only when the backstore can deallocate, STPG only with explicit ALUA). */
function supportedBy(c: CommandDescriptor, lu: LogicalUnit): boolean {
  return (!THIN_ONLY_OPS.has(c.op) || lu.thin) && c.available?.(lu) !== false;
}

/** The commands an LU supports. */
export function commandsFor(lu: LogicalUnit): CommandDescriptor[] {
  return COMMANDS.filter((c) => supportedBy(c, lu));
}

type Lookup = CommandDescriptor | 'BAD_OPCODE' | 'BAD_SA';

export function lookup(cdb: Buffer): Lookup {
  const op = cdb.readUInt8(0);
  const e = BY_OPCODE[op];
  if (e === undefined) return 'BAD_OPCODE';
  if (e instanceof Map) return e.get(cdb.readUInt8(1) & 0x1f) ?? 'BAD_SA';
  return e;
}

// ---- errors → sense -----------------------------------------------------------------

/** Distinct internal errors already logged (command + message), bounded: each is logged once. */
const loggedInternal = new Set<string>();
const MAX_LOGGED_INTERNAL = 100;
/** Hook for the composition layer's logger (scsi/ has no logger of its own). */
let logInternalError: (err: unknown, command: string) => void = (err, command) => {
  console.error(`scsi: internal error in ${command}:`, err);
};

/** Routes unexpected handler exceptions to the gateway's logger (each distinct one is logged once). */
export function setInternalErrorLogger(fn: (err: unknown, command: string) => void): void {
  logInternalError = fn;
  loggedInternal.clear();
}

/** T10 name of the command a CDB carries ("READ(10)"), for logs and metrics labels; undefined when unsupported. */
export function commandName(cdb: Buffer): string | undefined {
  if (cdb.length < 2) return undefined;
  const e = lookup(cdb);
  return typeof e === 'string' ? undefined : e.name;
}

/** ScsiError → CHECK CONDITION; BackstoreError → MEDIUM/WRITE ERROR or NOT READY; anything else → HARDWARE ERROR. */
export function errorToResult(err: unknown, format: SenseFormat, writeCommand: boolean, command: string): ScsiResult {
  if (err instanceof ScsiError) return checkCondition(err.reason, err.detail, format);
  if (err instanceof GatewayError && err.code.startsWith('ERR_BACKSTORE_')) {
    // LIO: a backend timeout is retryable; tcmu-runner answers NOT READY / BUSY during failover.
    if (err.code === 'ERR_BACKSTORE_TIMEOUT') return checkCondition('NOT_READY_CAUSE_NOT_REPORTABLE', {}, format);
    // Another gateway holds the image's lock, or this one was fenced (blocklisted): never a medium
    // error (Windows and ESXi take that for a damaged disk); the initiator retries on the AO path.
    if (err.code === 'ERR_BACKSTORE_LOCK_LOST') return checkCondition('ALUA_TRANSITION', {}, format);
    const op = (err as GatewayError & { op?: string }).op;
    const isWrite = op === 'write' || (op !== 'read' && writeCommand);
    return checkCondition(isWrite ? 'WRITE_ERROR' : 'UNRECOVERED_READ_ERROR', {}, format);
  }
  const what = `${command}: ${err instanceof Error ? err.message : String(err)}`;
  if (!loggedInternal.has(what) && loggedInternal.size < MAX_LOGGED_INTERNAL) {
    loggedInternal.add(what);
    logInternalError(err, command);
  }
  return checkCondition('INTERNAL_TARGET_FAILURE', {}, format);
}

function toResult(r: ExecResult, dataInLength: number): ScsiResult {
  if (r === undefined) return GOOD;
  if (Buffer.isBuffer(r)) {
    // Truncate in one place to the ALLOCATION LENGTH (tgt alloc_len/avail_len).
    return { kind: 'result', status: ScsiStatus.GOOD, dataIn: r.length > dataInLength ? r.subarray(0, dataInLength) : r };
  }
  return r;
}

// ---- prepare / execute ---------------------------------------------------------------

interface NoLunState {
  readonly noLun: true;
  readonly data: Buffer;
}

function immediateData(data: Buffer): PreparedCommand {
  const state: NoLunState = { noLun: true, data };
  return { kind: 'prepared', dataOutLength: 0, dataInLength: data.length, state };
}

/**
 * A command to a LUN that is not mapped (SPC-4 "INQUIRY", "REPORT LUNS", "REQUEST
 * SENSE" work on any LUN; everything else → LOGICAL UNIT NOT SUPPORTED).
 */
export function prepareNoLun(req: ScsiRequest, port: PortContext): PreparedCommand | ScsiResult {
  try {
    switch (req.cdb.readUInt8(0)) {
      case ScsiOp.INQUIRY:
        return immediateData(inquiryNoLun(req.cdb));
      case ScsiOp.REQUEST_SENSE:
        return immediateData(requestSenseNoLun(req.cdb));
      case ScsiOp.REPORT_LUNS: {
        const p = parseReportLuns(req.cdb);
        const data = reportLunsData(p.flags, port.luns());
        return immediateData(data.length > p.dataInLength ? data.subarray(0, p.dataInLength) : data);
      }
      default:
        return checkCondition('LUN_NOT_SUPPORTED');
    }
  } catch (err) {
    return errorToResult(err, 'fixed', false, 'no-lun');
  }
}

/** Generic gates and CDB parse for a mapped LU. Never throws. */
export function prepareCommand(req: ScsiRequest, lu: LogicalUnit, nexus: Nexus, port: PortContext, client?: ClientIo): PreparedCommand | ScsiResult {
  try {
    return gates(req, lu, nexus, port, client);
  } catch (err) {
    // A gate's collaborator (reservations, ALUA group callback) failed: never let it reach the transport.
    return errorToResult(err, lu.senseFormat, false, 'prepare');
  }
}

function gates(req: ScsiRequest, lu: LogicalUnit, nexus: Nexus, port: PortContext, client: ClientIo | undefined): PreparedCommand | ScsiResult {
  const format = lu.senseFormat;
  const cdb = req.cdb;
  if (cdb.length < 2) return checkCondition('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: 0 } }, format);
  // A closed LU (being removed) answers like a unit that is going away.
  if (lu.isClosed) return checkCondition('NOT_READY_CAUSE_NOT_REPORTABLE', {}, format);
  const key = nexus.key;
  // SAM-5: the first command of a new I_T nexus sees POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
  if (!lu.ua.isKnown(key)) lu.ua.register(key);
  let entry = lookup(cdb);
  // Not supported by this LU: as an unknown operation code. For SET TARGET PORT GROUPS without explicit
  // ALUA that is also what LIO answers (TCM_UNSUPPORTED_SCSI_OPCODE): no MAINTENANCE OUT service action is left.
  if (entry !== 'BAD_OPCODE' && entry !== 'BAD_SA' && !supportedBy(entry, lu)) entry = 'BAD_OPCODE';
  // SAM-5 "Unit attention condition": reported on the next command except INQUIRY,
  // REPORT LUNS and REQUEST SENSE; one condition per command.
  if (typeof entry === 'string' || entry.uaExempt !== true) {
    const ua = lu.ua.take(key);
    if (ua !== undefined) return checkCondition(ua, {}, format);
  }
  // SBC-4 "Sanitize operations": only INQUIRY, REPORT LUNS and REQUEST SENSE while a sanitize runs.
  const sanitizing = typeof entry === 'string' || entry.uaExempt !== true ? sanitizeGate(lu, cdb.readUInt8(0)) : undefined;
  if (sanitizing !== undefined) return checkCondition(sanitizing, {}, format);
  if (entry === 'BAD_OPCODE') return checkCondition('INVALID_COMMAND_OPCODE', { field: { inCdb: true, byte: 0 } }, format);
  if (entry === 'BAD_SA') return checkCondition('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: 1, bit: 4 } }, format);
  // The CDB must be as long as its group code says (iSCSI always carries 16 bytes or more).
  if (cdb.length < cdbLength(entry.op)) return checkCondition('INVALID_FIELD_IN_CDB', { field: { inCdb: true, byte: 0 } }, format);
  let p;
  try {
    p = entry.parse(cdb, lu);
  } catch (err) {
    return errorToResult(err, format, entry.write === true, entry.name);
  }
  if (entry.pr !== false && lu.pr.conflicts(nexus, cdb)) {
    return { kind: 'result', status: ScsiStatus.RESERVATION_CONFLICT };
  }
  const refused = aluaGate(lu.aluaStateFor(nexus), entry.alua);
  if (refused !== undefined) return checkCondition(refused, {}, format);
  // SBC-4 "Write protection": WRITE PROTECTED for medium changes on a read-only LU or with SWP set.
  if (entry.write === true && (lu.readOnly || lu.mode.swp)) return checkCondition('WRITE_PROTECTED', {}, format);
  // LIO: a WRITE SAME / COMPARE AND WRITE whose Expected Data Transfer Length does not match the CDB is refused.
  if (STRICT_DATA_OUT_OPS.has(entry.op) && req.expectedDataLength !== p.dataOutLength) {
    return checkCondition('INVALID_FIELD_IN_CDB', {}, format);
  }
  const state: ExecContext = { entry, lu, nexus, req, port, p, client };
  return { kind: 'prepared', dataOutLength: p.dataOutLength, dataInLength: p.dataInLength, state };
}

/** Runs a prepared command. Never rejects. Counted into the LU's I/O statistics (io-stats.ts). */
export async function executeCommand(prepared: PreparedCommand): Promise<ScsiResult> {
  const state = prepared.state as ExecContext | NoLunState;
  if ('noLun' in state) return { kind: 'result', status: ScsiStatus.GOOD, dataIn: state.data };
  const stats = state.lu.stats;
  const started = stats.begin();
  const write = state.entry.write === true;
  const arbiter = write ? state.lu.writeArbiter : undefined;
  let granted = false;
  let result: ScsiResult;
  try {
    // As late as possible (after Data-Out): a gateway that lost its lease or lock must not apply it.
    let refused = arbiter?.begin();
    if (refused instanceof Promise) refused = await refused.catch(() => 'ALUA_TRANSITION' as const);
    granted = arbiter !== undefined && refused === undefined;
    if (refused !== undefined) {
      result = checkCondition(refused, {}, state.lu.senseFormat);
    } else {
      let r = state.entry.execute(state);
      if (r instanceof Promise) r = await r;
      result = toResult(r, state.p.dataInLength);
    }
  } catch (err) {
    if (err instanceof GatewayError && err.code.startsWith('ERR_BACKSTORE_')) stats.backstoreErrors++;
    result = errorToResult(err, state.lu.senseFormat, write, state.entry.name);
  } finally {
    if (granted) arbiter?.end();
  }
  if (isReadOpcode(state.req.cdb.readUInt8(0))) stats.end(IoClass.READ, result.dataIn?.length ?? 0, started, state.client);
  else if (write) stats.end(IoClass.WRITE, result.status === ScsiStatus.GOOD ? state.p.dataOutLength : 0, started, state.client);
  else stats.end(IoClass.OTHER, 0, started, state.client);
  return result;
}
