/**
 * SCSI reservations of one logical unit: SPC-4 persistent reservations
 * (SPC-4 "Reservations", "PERSISTENT RESERVE IN command", "PERSISTENT RESERVE
 * OUT command": every service action and type, ALL_TG_PT, APTPL, SPEC_I_PT and
 * REGISTER AND MOVE with iSCSI initiator-port TransportIDs) and the SPC-2
 * RESERVE(6/10) / RELEASE(6/10) reservation, with the SPC-4
 * "Exceptions to SPC-2 RESERVE and RELEASE behavior" (CRH = 1).
 *
 * The device server asks `conflicts()` for every command (cheap when nothing is
 * reserved: two null checks) and delegates PR IN/OUT and RESERVE/RELEASE here.
 *
 * Where the state lives:
 * - no store: in memory only (one gateway, no APTPL: PTPL_C = 0);
 * - `store` (PrStore): in memory, and with APTPL = 1 a JSON-able snapshot goes
 *   through PrStore after every change (SPC-4 "Preserving persistent
 *   reservations and registrations"); one gateway only;
 * - `shared` (SharedPrStore): ONE state for every gateway that exports the LU
 *   (tcmu-runner keeps it in the RBD image for the same reason: an initiator
 *   registers through one gateway and reserves through another). See
 *   "Shared state" below.
 *
 * Shared state (SharedPrStore):
 * - PERSISTENT RESERVE OUT runs inside `shared.update()`: under the store's
 *   cross-process exclusion (file lock, or compare-and-write on a version for
 *   RADOS) the newest stored state is adopted, the service action is applied to
 *   a COPY, and the copy is stored as version + 1. Only when the store says it
 *   is written does the copy become the live state and do the unit attentions
 *   go out; on any failure nothing changed (the initiator gets CHECK CONDITION
 *   and may retry).
 * - PERSISTENT RESERVE IN asks the store for its version (a stat for the file
 *   store) and re-reads only when it moved, so it always answers from the
 *   newest state.
 * - `conflicts()` (every READ/WRITE) never touches the store: it reads the
 *   in-memory copy, which `shared.watch()` refreshes (fs.watch + a poll for
 *   the file store; watch/notify for RADOS). File store, stated plainly:
 *   between another gateway's PR OUT completing and this gateway's watch
 *   callback re-reading the state (milliseconds with fs.watch; up to the poll
 *   interval when fs.watch is unavailable, e.g. on network filesystems) a
 *   command through this gateway is checked against the previous state. An
 *   initiator that needs a strict order issues its PR IN (which re-reads)
 *   before relying on the reservation, as cluster software does. RADOS store:
 *   the writer's PR OUT completes only after every live peer acknowledged
 *   the notify, and a peer acknowledges only once its refresh() (or a PR OUT
 *   of its own) has taken in the new version, so no window remains
 *   between live gateways (a peer that does not answer within the notify
 *   timeout catches up by its poll).
 * - Unit attentions the writer raises (RESERVATIONS PREEMPTED / RELEASED,
 *   REGISTRATIONS PREEMPTED) are stored with the state as a short event log
 *   tagged with the version that raised them; a gateway adopting a newer
 *   version replays the events it has not seen to ITS OWN I_T nexuses (a
 *   registration's own nexus, or for ALL_TG_PT every local nexus of its
 *   initiator port). PREEMPT AND ABORT aborts tasks on the writer only.
 * - SPC-2 RESERVE(6/10) stays per gateway, as upstream LIO keeps it per node
 *   (each ceph-iscsi gateway has its own LIO): it is tied to one I_T nexus, is
 *   lost with it, and is not part of the shared document.
 * - APTPL: see load().
 */
import type { Nexus } from './command.js';
import { ScsiOp } from './constants.js';
import { ScsiError, type SenseReason } from './sense.js';
import { GatewayError } from '../util/errors.js';

/** APTPL persistence. `save(null)` means "nothing persisted" (APTPL = 0). */
export interface PrStore {
  load(): Promise<unknown | undefined>;
  save(state: unknown): Promise<void>;
}

/** One stored version of a shared PR document (`doc` undefined: never written). */
export interface SharedPrSnapshot {
  /** Store version: +1 on every stored change; 0 when never written. */
  version: number;
  doc: unknown;
}

/**
 * The PR state of one logical unit shared by every gateway exporting it. The
 * file implementation is gateway/pr-store.ts (FileSharedPrStore); the RBD one
 * (gateway/pr-store-rados.ts, RadosSharedPrStore) maps onto one RADOS object:
 * version in an xattr, update() = read + mutate + cmpxattr(version) + write_full
 * + setxattr in one op (retried on -ECANCELED), watch() = rados watch/notify,
 * open()'s `alone()` = no other watcher acknowledges a notify.
 */
export interface SharedPrStore {
  /**
   * LU open: the newest snapshot, and how to learn whether no OTHER live gateway
   * has this state open (APTPL = 0 state is dropped only then). Marks this one as a
   * user until close(). `alone()` is asked only when the snapshot holds state to
   * drop: on RADOS it is a notify that waits for every watcher, the whole notify
   * timeout when one is dead (a start after a crash with 1,000 LUNs took 62 s
   * while every LU asked it).
   */
  open(): Promise<SharedPrSnapshot & { alone: () => Promise<boolean> }>;
  /** The newest snapshot. */
  load(): Promise<SharedPrSnapshot>;
  /** The newest version only; cheap (a stat / getxattr). */
  version(): Promise<number>;
  /**
   * Atomic read-modify-write. `mutator` gets the newest snapshot; it may be
   * called more than once (CAS retry), so it must not commit anything itself.
   * When it returns `doc`, that is stored as version + 1. Rejects (nothing
   * stored) on I/O failure or when the mutator throws.
   */
  update<T>(mutator: (cur: SharedPrSnapshot) => { doc?: unknown; result: T }): Promise<{ version: number; result: T }>;
  /**
   * `onChange` after a change by any writer (may be spurious or coalesced); the promise it
   * returns settles once the change is adopted (a store may wait for it, e.g. to acknowledge
   * the writer's notify). Returns the unsubscribe function.
   */
  watch(onChange: () => void | Promise<void>): () => void;
  /** Stops watching and drops this user's mark. */
  close(): Promise<void>;
}

/** SPC-4 "PERSISTENT RESERVE IN service action codes". */
export const PrInAction = {
  READ_KEYS: 0x00,
  READ_RESERVATION: 0x01,
  REPORT_CAPABILITIES: 0x02,
  READ_FULL_STATUS: 0x03,
} as const;

/** SPC-4 "PERSISTENT RESERVE OUT service action codes". */
export const PrOutAction = {
  REGISTER: 0x00,
  RESERVE: 0x01,
  RELEASE: 0x02,
  CLEAR: 0x03,
  PREEMPT: 0x04,
  PREEMPT_AND_ABORT: 0x05,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x06,
  REGISTER_AND_MOVE: 0x07,
} as const;

/** SPC-4 "Persistent reservation TYPE field". */
export const PrType = {
  WRITE_EXCLUSIVE: 0x1,
  EXCLUSIVE_ACCESS: 0x3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x8,
} as const;
export type PrType = (typeof PrType)[keyof typeof PrType];

/** SPC-4 "Persistent reservation SCOPE field": only LU_SCOPE is defined. */
const LU_SCOPE = 0x0;

/** Registrations kept per logical unit (each needs an I_T nexus, so real setups stay far below). */
export const MAX_REGISTRATIONS = 2048;

/** SPC-4 "Basic PERSISTENT RESERVE OUT parameter list" length. */
export const PR_OUT_BASIC_LENGTH = 24;

/** Largest REGISTER parameter list with SPEC_I_PT = 1 we accept (24 + 4 + TransportIDs). */
export const PR_OUT_SPEC_I_PT_MAX_LENGTH = 16384;

/**
 * Largest REGISTER AND MOVE parameter list we accept: 24 bytes + one iSCSI
 * TransportID (4-byte header + an iSCSI name of at most 223 bytes + ",i,0x" +
 * 12 ISID digits + NUL, padded), with room to spare.
 */
export const PR_OUT_MOVE_MAX_LENGTH = 24 + 512;

export function isPrType(v: number): v is PrType {
  return v === 1 || v === 3 || v === 5 || v === 6 || v === 7 || v === 8;
}

/**
 * SPC-4 "Persistent reservation holder": for the all-registrants types every
 * registered I_T nexus is a reservation holder.
 */
export function isAllRegistrants(t: PrType): boolean {
  return t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

/** Registrants-only and all-registrants types (those that give registered non-holders access). */
function isRegistrantType(t: PrType): boolean {
  return t >= PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
}

function isExclusiveAccess(t: PrType): boolean {
  return (
    t === PrType.EXCLUSIVE_ACCESS ||
    t === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY ||
    t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS
  );
}

/**
 * PARAMETER LIST LENGTH of a PERSISTENT RESERVE OUT CDB (bytes 5-8): how many
 * Data-Out bytes the device server solicits.
 */
export function prOutParameterListLength(cdb: Buffer): number {
  return cdb.readUInt32BE(5);
}

/**
 * Synchronous CDB check for the device server's parse step (before any Data-Out
 * is solicited): validates the SERVICE ACTION and PARAMETER LIST LENGTH of a
 * PERSISTENT RESERVE OUT command and returns the Data-Out length. Throws
 * ScsiError (INVALID FIELD IN CDB / PARAMETER LIST LENGTH ERROR).
 */
export function parsePersistentReserveOut(cdb: Buffer): { serviceAction: number; dataOutLength: number } {
  if (cdb.length < 10) throw cdbField(0);
  const serviceAction = cdb.readUInt8(1) & 0x1f;
  // REPLACE LOST RESERVATION (SPC-5) and reserved codes are not supported.
  if (serviceAction > PrOutAction.REGISTER_AND_MOVE) throw cdbField(1, 4);
  const dataOutLength = prOutParameterListLength(cdb);
  if (serviceAction === PrOutAction.REGISTER_AND_MOVE) {
    // SPC-4 "PERSISTENT RESERVE OUT parameter list for REGISTER AND MOVE": 24 bytes + one TransportID.
    if (dataOutLength < PR_OUT_BASIC_LENGTH || dataOutLength > PR_OUT_MOVE_MAX_LENGTH) {
      throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    }
    return { serviceAction, dataOutLength };
  }
  // SPC-4 "Basic PERSISTENT RESERVE OUT parameter list": 24 bytes, except REGISTER
  // with SPEC_I_PT = 1 (28 bytes + TransportIDs; the bit itself is in the Data-Out).
  if (
    dataOutLength !== PR_OUT_BASIC_LENGTH &&
    !(serviceAction === PrOutAction.REGISTER && dataOutLength >= 28 && dataOutLength <= PR_OUT_SPEC_I_PT_MAX_LENGTH)
  ) {
    throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  }
  return { serviceAction, dataOutLength };
}

/**
 * Synchronous CDB check for PERSISTENT RESERVE IN: SERVICE ACTION 0-3 and the
 * ALLOCATION LENGTH (bytes 7-8) the response is truncated to. Throws ScsiError.
 */
export function parsePersistentReserveIn(cdb: Buffer): { serviceAction: number; allocationLength: number } {
  if (cdb.length < 10) throw cdbField(0);
  const serviceAction = cdb.readUInt8(1) & 0x1f;
  // SPC-4 "PERSISTENT RESERVE IN command": unsupported service action → INVALID FIELD IN CDB.
  if (serviceAction > PrInAction.READ_FULL_STATUS) throw cdbField(1, 4);
  return { serviceAction, allocationLength: cdb.readUInt16BE(7) };
}

/** One registered I_T nexus (or, with ALL_TG_PT, one initiator port through every target port). */
interface Registration {
  key: bigint;
  initiatorName: string;
  initiatorPortName: string;
  /** Target port it was made through (meaningless for matching when allTgPt). */
  targetPortName: string;
  relativeTargetPortId: number;
  /** Nexus key it was made through. */
  nexusKey: string;
  transportId: Buffer;
  allTgPt: boolean;
}

interface PersistentReservation {
  type: PrType;
  /** The holder's registration; null for the all-registrants types (every registrant holds it). */
  holder: Registration | null;
  /**
   * For a holder registered with ALL_TG_PT: the target port through which it
   * reserved (SPC-4 "Persistent reservation holder").
   */
  holderTargetPortName: string;
}

/** Serialised APTPL state (version 1). */
interface SavedState {
  v: 1;
  generation: number;
  aptpl?: boolean;
  registrations: {
    key: string;
    initiatorName: string;
    initiatorPortName: string;
    targetPortName: string;
    relativeTargetPortId: number;
    nexusKey: string;
    transportId: string;
    allTgPt: boolean;
  }[];
  reservation: { type: number; holder: number; holderTargetPortName: string } | null;
  /** Shared documents only: unit attentions raised by the last versions (see "Shared state"). */
  events?: PrEvent[];
}

/** A unit attention raised by one stored version, for the other gateways to replay. */
interface PrEvent {
  /** Store version that raised it. */
  ver: number;
  reason: 'RESERVATIONS_PREEMPTED' | 'RESERVATIONS_RELEASED' | 'REGISTRATIONS_PREEMPTED';
  initiatorPortName: string;
  nexusKey: string;
  allTgPt: boolean;
}

/** Events kept in the shared document: those of the last EVENT_VERSIONS versions, at most MAX_EVENTS. */
const EVENT_VERSIONS = 32;
const MAX_EVENTS = 512;

/** The mutable PR state (swapped as a whole for copy-on-write PR OUT on a shared store). */
interface PrFields {
  generation: number;
  registrations: Registration[];
  reservation: PersistentReservation | null;
  aptpl: boolean;
}

/**
 * How a command behaves in the presence of a persistent reservation held by
 * another I_T nexus (SPC-4 table "SPC commands that are allowed in the presence of
 * various reservations", SBC-4 table "SBC commands that are allowed in the presence
 * of various reservations").
 */
const Access = {
  /** Allowed through every reservation type. */
  ALLOWED: 0,
  /** Reads: conflict only for Exclusive Access types. */
  READ: 1,
  /** Writes and everything else: conflict for Write Exclusive and Exclusive Access types. */
  WRITE: 2,
  /**
   * RESERVE(6/10): conflict whenever a registration exists (SPC-4 "Exceptions to
   * SPC-2 RESERVE and RELEASE behavior").
   */
  RESERVE: 3,
  /** RELEASE(6/10): GOOD without effect while registrations exist (same clause). */
  RELEASE: 4,
  /**
   * MODE SENSE, READ ATTRIBUTE, READ BUFFER, RECEIVE DIAGNOSTIC RESULTS, REPORT
   * SUPPORTED OPERATION CODES / TMF: allowed for registered I_T nexuses under every
   * type; for unregistered ones only through Write Exclusive types.
   */
  INFO: 5,
} as const;
type Access = (typeof Access)[keyof typeof Access];

const ACCESS_BY_OPCODE: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(Access.WRITE);
  const allowed = [
    ScsiOp.INQUIRY,
    ScsiOp.REPORT_LUNS,
    ScsiOp.REQUEST_SENSE,
    ScsiOp.LOG_SENSE,
    ScsiOp.TEST_UNIT_READY,
    ScsiOp.PERSISTENT_RESERVE_IN,
    // PR OUT conflicts are decided per service action (SPC-4 "Persistent reservations
    // management"), inside persistentReserveOut().
    ScsiOp.PERSISTENT_RESERVE_OUT,
    ScsiOp.READ_CAPACITY_10,
  ];
  const reads = [
    ScsiOp.READ_6,
    ScsiOp.READ_10,
    ScsiOp.READ_12,
    ScsiOp.READ_16,
    ScsiOp.VERIFY_10,
    ScsiOp.VERIFY_12,
    ScsiOp.VERIFY_16,
    ScsiOp.PRE_FETCH_10,
    ScsiOp.PRE_FETCH_16,
    ScsiOp.RECEIVE_COPY_RESULTS,
    0x37, // READ DEFECT DATA(10)
    0xb7, // READ DEFECT DATA(12)
    0x3e, // READ LONG(10)
  ];
  const info = [
    ScsiOp.MODE_SENSE_6,
    ScsiOp.MODE_SENSE_10,
    ScsiOp.READ_BUFFER,
    0x1c, // RECEIVE DIAGNOSTIC RESULTS
    0x8c, // READ ATTRIBUTE
    0xa2, // SECURITY PROTOCOL IN
  ];
  for (const op of allowed) t[op] = Access.ALLOWED;
  for (const op of reads) t[op] = Access.READ;
  for (const op of info) t[op] = Access.INFO;
  t[ScsiOp.RESERVE_6] = Access.RESERVE;
  t[ScsiOp.RESERVE_10] = Access.RESERVE;
  t[ScsiOp.RELEASE_6] = Access.RELEASE;
  t[ScsiOp.RELEASE_10] = Access.RELEASE;
  return t;
})();

/** MAINTENANCE IN service actions. */
const MI_REPORT_IDENTIFYING_INFORMATION = 0x05;
const MI_REPORT_TARGET_PORT_GROUPS = 0x0a;
const MI_REPORT_SUPPORTED_OPERATION_CODES = 0x0c;
const MI_REPORT_SUPPORTED_TMF = 0x0d;
const MI_REPORT_PRIORITY = 0x0e;
const MI_REPORT_TIMESTAMP = 0x0f;
/** SERVICE ACTION IN(16) service actions. */
const SAI_READ_CAPACITY_16 = 0x10;
const SAI_GET_LBA_STATUS = 0x12;

function accessOf(cdb: Buffer): Access {
  const op = cdb.readUInt8(0);
  switch (op) {
    case ScsiOp.MAINTENANCE_IN: {
      const sa = cdb.length > 1 ? cdb.readUInt8(1) & 0x1f : -1;
      // SPC-4 table: the REPORT ... commands that describe the device are allowed;
      // REPORT SUPPORTED OPERATION CODES / TMF are allowed for registered I_T nexuses
      // and through Write Exclusive types.
      if (
        sa === MI_REPORT_TARGET_PORT_GROUPS ||
        sa === MI_REPORT_IDENTIFYING_INFORMATION ||
        sa === MI_REPORT_PRIORITY ||
        sa === MI_REPORT_TIMESTAMP
      ) {
        return Access.ALLOWED;
      }
      if (sa === MI_REPORT_SUPPORTED_OPERATION_CODES || sa === MI_REPORT_SUPPORTED_TMF) return Access.INFO;
      return Access.WRITE;
    }
    case ScsiOp.MAINTENANCE_OUT:
      // SPC-4 table: SET TARGET PORT GROUPS (and the other MAINTENANCE OUT service actions)
      // conflict under Write Exclusive and Exclusive Access, are allowed for registered
      // I_T nexuses under the registrants-only and all-registrants types: a write.
      return Access.WRITE;
    case ScsiOp.SERVICE_ACTION_IN_16: {
      const sa = cdb.length > 1 ? cdb.readUInt8(1) & 0x1f : -1;
      // SBC-4 table: READ CAPACITY(16) allowed; GET LBA STATUS is a read.
      if (sa === SAI_READ_CAPACITY_16) return Access.ALLOWED;
      if (sa === SAI_GET_LBA_STATUS) return Access.READ;
      return Access.WRITE;
    }
    case ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL:
      // SPC-4 table: PREVENT ALLOW MEDIUM REMOVAL with PREVENT = 00b is allowed.
      return cdb.length > 4 && (cdb.readUInt8(4) & 0x03) === 0 ? Access.ALLOWED : Access.WRITE;
    case ScsiOp.START_STOP_UNIT:
      // SBC-4 table: START STOP UNIT with START = 1 and POWER CONDITION = 0 is allowed.
      return cdb.length > 4 && (cdb.readUInt8(4) & 0xf1) === 0x01 ? Access.ALLOWED : Access.WRITE;
    default:
      return ACCESS_BY_OPCODE[op] as Access;
  }
}

/**
 * SPC-2 "Reservations": commands another I_T nexus may still send while a
 * RESERVE(6/10) reservation is held (INQUIRY, REPORT LUNS, REQUEST SENSE, RELEASE,
 * PREVENT ALLOW MEDIUM REMOVAL with PREVENT = 0). Everything else conflicts
 * (iscsi-test-cu Reserve6.2Initiators expects MODE SENSE(6) to conflict).
 */
function allowedUnderReserve6(cdb: Buffer): boolean {
  const op = cdb.readUInt8(0);
  switch (op) {
    case ScsiOp.INQUIRY:
    case ScsiOp.REPORT_LUNS:
    case ScsiOp.REQUEST_SENSE:
    case ScsiOp.RELEASE_6:
    case ScsiOp.RELEASE_10:
      return true;
    case ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL:
      return cdb.length > 4 && (cdb.readUInt8(4) & 0x03) === 0;
    default:
      return false;
  }
}

function cdbField(byte: number, bit?: number): ScsiError {
  return new ScsiError(
    'INVALID_FIELD_IN_CDB',
    bit === undefined ? { field: { inCdb: true, byte } } : { field: { inCdb: true, byte, bit } },
  );
}

function paramField(byte: number, bit?: number): ScsiError {
  return new ScsiError(
    'INVALID_FIELD_IN_PARAMETER_LIST',
    bit === undefined ? { field: { inCdb: false, byte } } : { field: { inCdb: false, byte, bit } },
  );
}

export interface ReservationsOptions {
  /** APTPL persistence for one gateway (ignored when `shared` is given). */
  store?: PrStore;
  /** State shared by every gateway of the LU (see "Shared state"). */
  shared?: SharedPrStore;
  /**
   * True when the I_T nexus has talked to the LU through this gateway: unit
   * attentions replayed from another gateway's change go only to those.
   */
  nexusKnown?: (nexusKey: string) => boolean;
  /** Queue a unit attention for one I_T nexus (its Nexus.key). */
  establishUa: (nexusKey: string, reason: SenseReason) => void;
  /**
   * PREEMPT AND ABORT (SPC-4 "Preempting and aborting"): the device server aborts every task
   * of these I_T nexuses (called before the command completes).
   */
  abortTasks?: (nexusKeys: readonly string[]) => void;
}

type PrOutOutcome = 'GOOD' | 'RESERVATION_CONFLICT';

/** See Reservations.summary(). */
export interface ReservationSummary {
  generation: number;
  aptpl: boolean;
  registrations: {
    /** Reservation key as 0x + 16 hex digits. */
    key: string;
    initiatorPortName: string;
    /** null for an ALL_TG_PT registration (every target port). */
    targetPortName: string | null;
    holder: boolean;
  }[];
  reservation: { type: PrType; allRegistrants: boolean } | null;
  /** Nexus key of the RESERVE(6/10) holder, or null. */
  reserve6Holder: string | null;
}

/** A unit attention or task abort raised while a shared PR OUT runs on its copy; sent after the store commit. */
interface Pending {
  uas: { reason: PrEvent['reason']; reg: Registration }[];
  aborts: string[];
}

export class Reservations {
  private readonly store: PrStore | undefined;
  private readonly shared: SharedPrStore | undefined;
  private readonly deliverUa: (nexusKey: string, reason: SenseReason) => void;
  private readonly deliverAbort: ((nexusKeys: readonly string[]) => void) | undefined;
  private readonly nexusKnown: ((nexusKey: string) => boolean) | undefined;
  /** While a shared PR OUT runs on its copy: what it raised (delivered only after the commit). */
  private pending: Pending | undefined;
  /** Shared store version the in-memory state corresponds to (-1: not loaded). */
  private version = -1;
  /** Coalesces shared re-reads: at most one running and one queued. */
  private refreshChain: Promise<void> = Promise.resolve();
  private refreshQueued: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;

  /** PRgeneration (SPC-4 "READ KEYS service action"), 32-bit wrapping. */
  private generation = 0;
  /** Registrations in registration order (READ KEYS order). */
  private registrations: Registration[] = [];
  private reservation: PersistentReservation | null = null;
  /**
   * Last APTPL bit of a successful REGISTER-type service action (SPC-4
   * "Preserving persistent reservations and registrations").
   */
  private aptpl = false;
  /** SPC-2 RESERVE(6/10) holder: the Nexus.key, or null. */
  private reserve6Holder: string | null = null;
  /** Nexus keys seen per initiator port (unit attentions for ALL_TG_PT registrations). */
  private readonly nexusKeysByPort = new Map<string, Set<string>>();
  /** Target port names seen per RELATIVE TARGET PORT IDENTIFIER (REGISTER AND MOVE). */
  private readonly targetPortsById = new Map<number, string>();
  /** Serialises PrStore.save() calls so the last state written is the newest one. */
  private saving: Promise<void> = Promise.resolve();

  constructor(opts: ReservationsOptions) {
    this.shared = opts.shared;
    this.store = opts.shared === undefined ? opts.store : undefined;
    this.deliverUa = opts.establishUa;
    this.deliverAbort = opts.abortTasks;
    this.nexusKnown = opts.nexusKnown;
  }

  /**
   * LU open: restores the stored state. Throws GatewayError ERR_SCSI_PR_STATE on
   * a corrupt document.
   *
   * APTPL with a shared store: the state is always stored (the running gateways
   * must share it whatever APTPL says), with the APTPL flag. SPC-4 wants APTPL = 0
   * state gone after a power loss; for a set of gateways "power loss" is: no
   * gateway had the state open. So when this gateway opens the LU and the store
   * reports no other live user (`alone`), a document whose last APTPL was 0 is
   * cleared (PRgeneration back to 0); otherwise the running gateways' state is
   * adopted as is. A gateway restarting alone therefore drops APTPL = 0 state
   * exactly like a single LIO would; a gateway restarting while another one
   * keeps serving the LU keeps it (the LU never lost power from the initiators'
   * point of view).
   */
  async load(): Promise<void> {
    const shared = this.shared;
    if (shared !== undefined) {
      const s = await shared.open();
      // Validate before anything else (a corrupt document is an error, never a silent reset).
      const doc = s.doc === undefined || s.doc === null ? undefined : parseSavedState(s.doc);
      if (doc !== undefined && doc.aptpl === false && (doc.registrations.length > 0 || doc.generation !== 0) && (await s.alone())) {
        const { version } = await shared.update((cur) => {
          const now = cur.doc === undefined || cur.doc === null ? undefined : parseSavedState(cur.doc);
          if (now === undefined || now.aptpl !== false) return { result: undefined };
          const cleared: SavedState = { v: 1, generation: 0, aptpl: false, registrations: [], reservation: null, events: [] };
          return { doc: cleared, result: undefined };
        });
        this.adopt(await shared.load());
        this.version = Math.max(this.version, version);
      } else {
        this.adopt(s, false);
      }
      this.stopWatch = shared.watch(() => this.refresh().catch(() => undefined));
      return;
    }
    if (this.store === undefined) return;
    const raw = await this.store.load();
    if (raw === undefined || raw === null) return;
    this.importState(raw);
  }

  /** LU close: stops following the shared state and releases the store. */
  async close(): Promise<void> {
    this.stopWatch?.();
    this.stopWatch = undefined;
    if (this.shared !== undefined) await this.shared.close();
  }

  /**
   * Re-reads the shared state and adopts it when newer (replaying the unit
   * attentions it carries). Called by the store watch; exposed for tests.
   */
  refresh(): Promise<void> {
    const shared = this.shared;
    if (shared === undefined) return Promise.resolve();
    if (this.refreshQueued !== undefined) return this.refreshQueued;
    const p = this.refreshChain.then(async () => {
      this.refreshQueued = undefined;
      this.adopt(await shared.load());
    });
    this.refreshQueued = p;
    this.refreshChain = p.catch(() => undefined);
    return p;
  }

  /**
   * Makes a stored snapshot the live state when it is newer than ours. With
   * `replay`, the unit attentions of the versions in between go to this
   * gateway's I_T nexuses. A corrupt document throws and changes nothing.
   */
  private adopt(s: SharedPrSnapshot, replay = true): void {
    if (s.version <= this.version) return;
    const prev = this.version;
    if (s.doc === undefined || s.doc === null) {
      this.setFields({ generation: 0, registrations: [], reservation: null, aptpl: false });
      this.version = s.version;
      return;
    }
    const doc = parseSavedState(s.doc);
    this.importParsed(doc);
    this.version = s.version;
    if (!replay || prev < 0) return;
    for (const e of doc.events ?? []) {
      if (e.ver <= prev || e.ver > s.version) continue;
      const keys = new Set<string>([e.nexusKey]);
      if (e.allTgPt) {
        for (const k of this.nexusKeysByPort.get(e.initiatorPortName) ?? []) keys.add(k);
        for (const tp of this.targetPortsById.values()) keys.add(`${e.initiatorPortName}|${tp}`);
      }
      for (const k of keys) {
        // Only nexuses that exist here: another gateway's nexus keys name its own target ports.
        const known = this.nexusKnown !== undefined ? this.nexusKnown(k) : (this.nexusKeysByPort.get(e.initiatorPortName)?.has(k) ?? false);
        if (known) this.deliverUa(k, e.reason);
      }
    }
  }

  private getFields(): PrFields {
    return { generation: this.generation, registrations: this.registrations, reservation: this.reservation, aptpl: this.aptpl };
  }

  private setFields(f: PrFields): void {
    this.generation = f.generation;
    this.registrations = f.registrations;
    this.reservation = f.reservation;
    this.aptpl = f.aptpl;
  }

  /** A deep copy of the live state (registrations are mutated in place by PR OUT). */
  private copyFields(): PrFields {
    const regs = this.registrations.map((r) => ({ ...r }));
    const res = this.reservation;
    let reservation: PersistentReservation | null = null;
    if (res !== null) {
      const i = res.holder === null ? -1 : this.registrations.indexOf(res.holder);
      reservation = { type: res.type, holder: i < 0 ? null : (regs[i] ?? null), holderTargetPortName: res.holderTargetPortName };
    }
    return { generation: this.generation, registrations: regs, reservation, aptpl: this.aptpl };
  }

  /**
   * The PR state as a JSON-able document (the format PrStore.save() receives):
   * registrations, reservation, PRgeneration and the APTPL flag. RESERVE(6) is not
   * part of it (SPC-2 reservations do not survive power loss).
   */
  exportState(): unknown {
    return this.snapshot();
  }

  /**
   * Replaces the PR state with a document from exportState() (or a store); for a
   * cluster-wide store that pushes changes made through another gateway. Validates
   * first and changes nothing on error (GatewayError ERR_SCSI_PR_STATE). No unit
   * attentions are raised.
   */
  importState(raw: unknown): void {
    this.importParsed(parseSavedState(raw));
  }

  private importParsed(s: SavedState): void {
    this.reservation = null;
    this.generation = s.generation;
    this.registrations = s.registrations.map((r) => ({
      key: BigInt(`0x${r.key}`),
      initiatorName: r.initiatorName,
      initiatorPortName: r.initiatorPortName,
      targetPortName: r.targetPortName,
      relativeTargetPortId: r.relativeTargetPortId,
      nexusKey: r.nexusKey,
      transportId: Buffer.from(r.transportId, 'base64'),
      allTgPt: r.allTgPt,
    }));
    for (const r of this.registrations) {
      this.noteKey(r.initiatorPortName, r.nexusKey);
      if (!r.allTgPt) this.targetPortsById.set(r.relativeTargetPortId, r.targetPortName);
    }
    if (s.reservation !== null && isPrType(s.reservation.type)) {
      const type = s.reservation.type;
      const holder = isAllRegistrants(type) ? null : (this.registrations[s.reservation.holder] ?? null);
      if (isAllRegistrants(type) ? this.registrations.length > 0 : holder !== null) {
        this.reservation = { type, holder, holderTargetPortName: s.reservation.holderTargetPortName };
      }
    }
    // Documents without the flag were written while APTPL was active.
    this.aptpl = s.aptpl ?? true;
  }

  /**
   * SPC-4 table "SPC commands that are allowed in the presence of various
   * reservations" + the SBC-4 table, and the SPC-2 RESERVE(6) exclusivity:
   * true means the command gets RESERVATION CONFLICT.
   */
  conflicts(nexus: Nexus, cdb: Buffer): boolean {
    if (cdb.length === 0) return false;
    if (this.reserve6Holder !== null) return this.conflictsReserve6(nexus, cdb);
    const res = this.reservation;
    if (res === null) {
      if (this.registrations.length === 0) return false;
      // SPC-4 "Exceptions to SPC-2 RESERVE and RELEASE behavior": RESERVE(6/10)
      // conflicts while any registration exists.
      return ACCESS_BY_OPCODE[cdb.readUInt8(0)] === Access.RESERVE;
    }
    const access = accessOf(cdb);
    if (access === Access.ALLOWED || access === Access.RELEASE) return false;
    if (access === Access.RESERVE) return true;
    const reg = this.findRegistration(nexus);
    if (this.isHolder(res, reg, nexus)) return false;
    // Registered non-holders keep full access under the registrants-only and
    // all-registrants types (and the INFO commands under every type); the others
    // keep everything but writes under the Write Exclusive types.
    if (reg !== undefined && (isRegistrantType(res.type) || access === Access.INFO)) return false;
    if (isExclusiveAccess(res.type)) return true;
    return access === Access.WRITE;
  }

  private conflictsReserve6(nexus: Nexus, cdb: Buffer): boolean {
    const op = cdb.readUInt8(0);
    // SPC-2 "Reservations": while any RESERVE is held, every PERSISTENT RESERVE IN and OUT
    // conflicts "regardless of initiator or service action".
    if (op === ScsiOp.PERSISTENT_RESERVE_IN || op === ScsiOp.PERSISTENT_RESERVE_OUT) return true;
    if (this.reserve6Holder === nexus.key) return false;
    return !allowedUnderReserve6(cdb);
  }

  /** RESERVE(6) / RESERVE(10) without third-party or extents (SPC-2 "RESERVE(6) command"). */
  reserve6(nexus: Nexus): 'GOOD' | 'RESERVATION_CONFLICT' {
    // SPC-4 "Exceptions to SPC-2 RESERVE and RELEASE behavior": RESERVE conflicts
    // while any I_T nexus is registered.
    if (this.registrations.length > 0) return 'RESERVATION_CONFLICT';
    if (this.reserve6Holder !== null && this.reserve6Holder !== nexus.key) return 'RESERVATION_CONFLICT';
    this.reserve6Holder = nexus.key;
    return 'GOOD';
  }

  /**
   * RELEASE(6) / RELEASE(10): releases the reservation held by this nexus; from any
   * other nexus (or while PR registrations exist: SPC-4 "Exceptions to SPC-2 RESERVE
   * and RELEASE behavior") GOOD without effect.
   */
  release6(nexus: Nexus): 'GOOD' {
    if (this.reserve6Holder === nexus.key) this.reserve6Holder = null;
    return 'GOOD';
  }

  /** I_T nexus loss (SAM-5): the RESERVE(6) it held is released; PR registrations stay. */
  nexusLoss(nexus: Nexus): void {
    if (this.reserve6Holder === nexus.key) this.reserve6Holder = null;
  }

  /**
   * LOGICAL UNIT RESET / target reset (SPC-2 "Reservations"): RESERVE(6) released;
   * PR state stays (SPC-4 "Persistent reservations overview").
   */
  reset(): void {
    this.reserve6Holder = null;
  }

  /** True when some I_T nexus holds a RESERVE(6/10) reservation (status/diagnostics). */
  get reserve6Held(): boolean {
    return this.reserve6Holder !== null;
  }

  /** Current PRgeneration (status/diagnostics). */
  get prGeneration(): number {
    return this.generation;
  }

  /**
   * Read-only view for status and diagnostics (reservation keys are not secret:
   * any initiator reads them with PERSISTENT RESERVE IN).
   */
  summary(): ReservationSummary {
    const res = this.reservation;
    return {
      generation: this.generation,
      aptpl: this.aptpl,
      registrations: this.registrations.map((r) => ({
        key: `0x${r.key.toString(16).padStart(16, '0')}`,
        initiatorPortName: r.initiatorPortName,
        targetPortName: r.allTgPt ? null : r.targetPortName,
        holder: res !== null && (res.holder === null || res.holder === r),
      })),
      reservation: res === null ? null : { type: res.type, allRegistrants: res.holder === null },
      reserve6Holder: this.reserve6Holder,
    };
  }

  // ---------------------------------------------------------------- PR IN

  /**
   * PERSISTENT RESERVE IN (SPC-4 "PERSISTENT RESERVE IN command"): full parameter data; the caller truncates
   * it to the ALLOCATION LENGTH. Throws ScsiError.
   */
  persistentReserveIn(nexus: Nexus, cdb: Buffer): Buffer {
    const { serviceAction } = parsePersistentReserveIn(cdb);
    this.noteNexus(nexus);
    switch (serviceAction) {
      case PrInAction.READ_KEYS:
        return this.readKeys();
      case PrInAction.READ_RESERVATION:
        return this.readReservation();
      case PrInAction.REPORT_CAPABILITIES:
        return this.reportCapabilities();
      case PrInAction.READ_FULL_STATUS:
        return this.readFullStatus();
      default:
        // SPC-4 "PERSISTENT RESERVE IN command": unsupported service action → INVALID FIELD IN CDB.
        throw cdbField(1, 4);
    }
  }

  /** SPC-4 "READ KEYS service action". */
  private readKeys(): Buffer {
    const n = this.registrations.length;
    const b = Buffer.alloc(8 + 8 * n);
    b.writeUInt32BE(this.generation, 0); // PRGENERATION
    b.writeUInt32BE(8 * n, 4); // ADDITIONAL LENGTH
    this.registrations.forEach((r, i) => b.writeBigUInt64BE(r.key, 8 + 8 * i)); // RESERVATION KEY list
    return b;
  }

  /** SPC-4 "READ RESERVATION service action". */
  private readReservation(): Buffer {
    const res = this.reservation;
    const b = Buffer.alloc(res === null ? 8 : 24);
    b.writeUInt32BE(this.generation, 0); // PRGENERATION
    if (res === null) return b; // ADDITIONAL LENGTH 0
    b.writeUInt32BE(16, 4); // ADDITIONAL LENGTH
    // RESERVATION KEY: 0 for the all-registrants types (SPC-4 "Format of PERSISTENT
    // RESERVE IN parameter data for READ RESERVATION").
    b.writeBigUInt64BE(res.holder === null ? 0n : res.holder.key, 8);
    // bytes 16-19 obsolete, byte 20 reserved
    b.writeUInt8((LU_SCOPE << 4) | res.type, 21); // SCOPE | TYPE
    return b;
  }

  /** SPC-4 "REPORT CAPABILITIES service action". */
  private reportCapabilities(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(8, 0); // LENGTH
    // CRH (bit 4): the SPC-2 RESERVE/RELEASE exceptions are implemented; SIP_C (bit 3)
    // and ATP_C (bit 2) = 1; PTPL_C (bit 0): only with a store.
    b.writeUInt8(0x10 | 0x08 | 0x04 | (this.ptplCapable ? 0x01 : 0), 2);
    // TMV (bit 7) = 1; ALLOW COMMANDS (bits 6-4) = 001b: TEST UNIT READY is allowed
    // through Write Exclusive and Exclusive Access reservations; PTPL_A (bit 0).
    b.writeUInt8(0x80 | (0x1 << 4) | (this.aptpl ? 0x01 : 0), 3);
    // PERSISTENT RESERVATION TYPE MASK: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX | EX_AC_AR.
    b.writeUInt8(0x80 | 0x40 | 0x20 | 0x08 | 0x02, 4);
    b.writeUInt8(0x01, 5);
    return b;
  }

  /** SPC-4 "READ FULL STATUS service action". */
  private readFullStatus(): Buffer {
    const res = this.reservation;
    const parts: Buffer[] = [];
    let len = 0;
    for (const r of this.registrations) {
      const d = Buffer.alloc(24 + r.transportId.length);
      d.writeBigUInt64BE(r.key, 0); // RESERVATION KEY
      // bytes 8-11 reserved
      const holder = res !== null && (res.holder === null || res.holder === r);
      d.writeUInt8((r.allTgPt ? 0x02 : 0) | (holder ? 0x01 : 0), 12); // ALL_TG_PT | R_HOLDER
      if (holder && res !== null) d.writeUInt8((LU_SCOPE << 4) | res.type, 13); // SCOPE | TYPE
      // bytes 14-17 reserved
      // RELATIVE TARGET PORT IDENTIFIER: not used when ALL_TG_PT is one.
      d.writeUInt16BE(r.allTgPt ? 0 : r.relativeTargetPortId & 0xffff, 18);
      d.writeUInt32BE(r.transportId.length, 20); // ADDITIONAL DESCRIPTOR LENGTH
      r.transportId.copy(d, 24); // TransportID
      parts.push(d);
      len += d.length;
    }
    const head = Buffer.alloc(8);
    head.writeUInt32BE(this.generation, 0); // PRGENERATION
    head.writeUInt32BE(len, 4); // ADDITIONAL LENGTH
    return Buffer.concat([head, ...parts], 8 + len);
  }

  // ---------------------------------------------------------------- PR OUT

  /**
   * PERSISTENT RESERVE OUT (SPC-4 "PERSISTENT RESERVE OUT command"). `param` is the Data-Out buffer (the
   * PARAMETER LIST LENGTH bytes of the CDB). Resolves after the APTPL state, if
   * any, is saved. Throws ScsiError.
   */
  async persistentReserveOut(nexus: Nexus, cdb: Buffer, param: Buffer): Promise<PrOutOutcome> {
    const shared = this.shared;
    if (shared !== undefined) {
      // Serialised with the watch re-reads: a re-read finishing between our store write
      // and our commit would otherwise adopt our own version first.
      const p = this.refreshChain.then(() => this.sharedPrOut(shared, nexus, cdb, param));
      this.refreshChain = p.then(
        () => undefined,
        () => undefined,
      );
      return p;
    }
    const outcome = this.prOut(nexus, cdb, param);
    if (outcome.changed && this.store !== undefined && (this.aptpl || outcome.aptplChanged)) {
      const snapshot = this.aptpl ? this.snapshot() : null;
      const store = this.store;
      const p = this.saving.then(() => store.save(snapshot));
      this.saving = p.catch(() => undefined);
      try {
        await p;
      } catch {
        // The in-memory state already changed; report the failure to persist it
        // (the initiator may retry; REGISTER AND IGNORE EXISTING KEY is idempotent).
        throw new ScsiError('INTERNAL_TARGET_FAILURE');
      }
    }
    return outcome.status;
  }

  /**
   * PR OUT on the shared state (see "Shared state"): adopt the newest version,
   * apply to a copy, store it as version + 1, and only then make it live and
   * send the unit attentions. ScsiErrors (bad CDB / parameter list) pass
   * through; a store failure is INTERNAL TARGET FAILURE; either way nothing
   * changed.
   */
  private async sharedPrOut(shared: SharedPrStore, nexus: Nexus, cdb: Buffer, param: Buffer): Promise<PrOutOutcome> {
    type Done = { outcome: PrOutOutcome; fields: PrFields | null; pending: Pending };
    let done: Done;
    let version: number;
    try {
      ({ version, result: done } = await shared.update<Done>((cur) => {
        this.adopt(cur);
        const live = this.getFields();
        const pending: Pending = { uas: [], aborts: [] };
        this.setFields(this.copyFields());
        this.pending = pending;
        let o: { status: PrOutOutcome; changed: boolean };
        let work: PrFields;
        try {
          o = this.prOut(nexus, cdb, param);
          work = this.getFields();
        } finally {
          this.pending = undefined;
          this.setFields(live);
        }
        if (!o.changed) return { result: { outcome: o.status, fields: null, pending } };
        const ver = cur.version + 1;
        const doc = this.snapshotOf(work);
        // Keep the events of the last EVENT_VERSIONS versions (bounded), then this version's.
        const old = cur.doc !== undefined && cur.doc !== null ? (parseSavedState(cur.doc).events ?? []) : [];
        const events = old.filter((e) => e.ver > ver - EVENT_VERSIONS);
        for (const u of pending.uas) {
          events.push({ ver, reason: u.reason, initiatorPortName: u.reg.initiatorPortName, nexusKey: u.reg.nexusKey, allTgPt: u.reg.allTgPt });
        }
        doc.events = events.slice(-MAX_EVENTS);
        return { doc, result: { outcome: o.status, fields: work, pending } };
      }));
    } catch (err) {
      if (err instanceof ScsiError) throw err;
      throw new ScsiError('INTERNAL_TARGET_FAILURE');
    }
    if (done.fields !== null && version > this.version) {
      this.setFields(done.fields);
      this.version = version;
      // A key another gateway's target port names never logs in here; an unknown local nexus
      // starts with POWER ON RESET anyway (UnitAttentions), which supersedes these.
      const known = this.nexusKnown;
      for (const u of done.pending.uas) {
        for (const k of this.nexusKeysOf(u.reg)) if (known === undefined || known(k)) this.deliverUa(k, u.reason);
      }
      if (done.pending.aborts.length > 0) this.deliverAbort?.(done.pending.aborts);
    }
    return done.outcome;
  }

  /**
   * PERSISTENT RESERVE IN as the device server runs it: with a shared store the
   * state is re-read first when its version moved (a stat for the file store),
   * so PR IN always reports the newest state; otherwise synchronous.
   */
  persistentReserveInLatest(nexus: Nexus, cdb: Buffer): Buffer | Promise<Buffer> {
    const shared = this.shared;
    if (shared === undefined) return this.persistentReserveIn(nexus, cdb);
    parsePersistentReserveIn(cdb);
    return shared.version().then(
      async (v) => {
        if (v > this.version) await this.refresh();
        return this.persistentReserveIn(nexus, cdb);
      },
      () => {
        throw new ScsiError('INTERNAL_TARGET_FAILURE');
      },
    );
  }

  /** PTPL_C: APTPL = 1 is accepted only when the state can be persisted. */
  private get ptplCapable(): boolean {
    return this.store !== undefined || this.shared !== undefined;
  }

  private prOut(
    nexus: Nexus,
    cdb: Buffer,
    param: Buffer,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    if (cdb.length < 10) throw cdbField(0);
    this.noteNexus(nexus);
    const sa = cdb.readUInt8(1) & 0x1f;
    const scope = cdb.readUInt8(2) >> 4;
    const type = cdb.readUInt8(2) & 0x0f;
    if (sa > PrOutAction.REGISTER_AND_MOVE) {
      // REPLACE LOST RESERVATION (SPC-5) and reserved codes are not supported.
      throw cdbField(1, 4);
    }
    const listLength = prOutParameterListLength(cdb);
    if (sa === PrOutAction.REGISTER_AND_MOVE) return this.registerAndMove(nexus, listLength, param);
    const specIPt = param.length > 20 && (param.readUInt8(20) & 0x08) !== 0;
    if (specIPt) {
      // SPC-4 "Basic PERSISTENT RESERVE OUT parameter list": SPEC_I_PT is valid only
      // for REGISTER; with any other service action it is INVALID FIELD IN PARAMETER LIST.
      if (sa !== PrOutAction.REGISTER) throw paramField(20, 3);
      return this.registerSpecIPt(nexus, listLength, param);
    }
    // SPC-4 "Basic PERSISTENT RESERVE OUT parameter list": "If the SPEC_I_PT bit is
    // set to zero, the PARAMETER LIST LENGTH field shall be set to 24 (i.e., 18h)"
    // → PARAMETER LIST LENGTH ERROR.
    if (listLength !== PR_OUT_BASIC_LENGTH || param.length < PR_OUT_BASIC_LENGTH) {
      throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    }
    const rk = param.readBigUInt64BE(0); // RESERVATION KEY
    const sark = param.readBigUInt64BE(8); // SERVICE ACTION RESERVATION KEY
    const flags = param.readUInt8(20);
    const allTgPt = (flags & 0x04) !== 0;
    const aptpl = (flags & 0x01) !== 0;

    if (sa === PrOutAction.REGISTER || sa === PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY) {
      if (aptpl && !this.ptplCapable) {
        // SPC-4 "Basic PERSISTENT RESERVE OUT parameter list": APTPL = 1 without
        // PTPL_C → INVALID FIELD IN PARAMETER LIST.
        throw paramField(20, 0);
      }
      return this.register(nexus, sa === PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY, rk, sark, allTgPt, aptpl);
    }

    // RESERVE, RELEASE, PREEMPT, PREEMPT AND ABORT carry SCOPE and TYPE.
    if (sa !== PrOutAction.CLEAR) {
      if (scope !== LU_SCOPE) throw cdbField(2, 7);
      if (!isPrType(type)) throw cdbField(2, 3);
    }
    const reg = this.findRegistration(nexus);
    // SPC-4 "Persistent reservations management": an unregistered I_T nexus, or a RESERVATION KEY that is not
    // the registered one, gets RESERVATION CONFLICT.
    if (reg === undefined || reg.key !== rk) {
      return { status: 'RESERVATION_CONFLICT', changed: false, aptplChanged: false };
    }
    const t = type as PrType;
    switch (sa) {
      case PrOutAction.RESERVE:
        return this.reserve(nexus, reg, t);
      case PrOutAction.RELEASE:
        return this.release(nexus, reg, t);
      case PrOutAction.CLEAR:
        return this.clear(reg);
      case PrOutAction.PREEMPT:
        return this.preempt(nexus, reg, t, sark, false);
      case PrOutAction.PREEMPT_AND_ABORT:
        return this.preempt(nexus, reg, t, sark, true);
      default:
        throw cdbField(1, 4);
    }
  }

  /**
   * REGISTER with SPEC_I_PT = 1 (SPC-4 "Registering"): registers the I_T nexus the
   * command came through and, with the same key, the initiator ports named by the
   * TransportIDs through the same target port (every target port with ALL_TG_PT).
   * All or nothing: one bad or already registered TransportID fails the command.
   * Only iSCSI initiator-port TransportIDs (FORMAT CODE 01b) are accepted.
   */
  private registerSpecIPt(
    nexus: Nexus,
    listLength: number,
    param: Buffer,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    if (listLength < 28 || listLength > PR_OUT_SPEC_I_PT_MAX_LENGTH || param.length < listLength) {
      throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    }
    const tidDataLength = param.readUInt32BE(24); // TRANSPORTID PARAMETER DATA LENGTH
    if (28 + tidDataLength !== listLength) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    const rk = param.readBigUInt64BE(0);
    const sark = param.readBigUInt64BE(8);
    const flags = param.readUInt8(20);
    const allTgPt = (flags & 0x04) !== 0;
    const aptpl = (flags & 0x01) !== 0;
    if (aptpl && !this.ptplCapable) throw paramField(20, 0);
    // "If the I_T nexus ... is already registered" SPEC_I_PT = 1 is INVALID FIELD IN PARAMETER LIST.
    if (this.findRegistration(nexus) !== undefined) throw paramField(20, 3);
    if (rk !== 0n) return { status: 'RESERVATION_CONFLICT', changed: false, aptplChanged: false };
    if (sark === 0n) return { status: 'GOOD', changed: false, aptplChanged: false };

    const dests: { portName: string; initiatorName: string; transportId: Buffer }[] = [];
    const end = listLength;
    for (let off = 28; off < end; ) {
      if (end - off < 24) throw paramField(off);
      const len = 4 + param.readUInt16BE(off + 2);
      if (off + len > end) throw paramField(off + 2);
      const tid = parseIscsiPortTransportId(param.subarray(off, off + len), off);
      const portName = this.knownPortName(tid.initiatorPortName);
      const self = portName === nexus.initiatorPortName;
      if (!self) {
        // an I_T nexus that is already registered (or named twice) → INVALID FIELD IN PARAMETER LIST
        const registered = this.registrations.some(
          (r) => r.initiatorPortName === portName && (allTgPt || r.allTgPt || r.targetPortName === nexus.targetPortName),
        );
        if (registered || dests.some((d) => d.portName === portName)) throw paramField(off);
        dests.push({ portName, initiatorName: tid.initiatorName, transportId: tid.transportId });
      }
      off += len;
    }
    if (this.registrations.length + 1 + dests.length > MAX_REGISTRATIONS) {
      throw new ScsiError('INSUFFICIENT_REGISTRATION_RESOURCES');
    }
    const outcome = this.register(nexus, false, rk, sark, allTgPt, aptpl);
    if (outcome.status !== 'GOOD') return outcome;
    for (const d of dests) {
      this.registrations.push({
        key: sark,
        initiatorName: d.initiatorName,
        initiatorPortName: d.portName,
        targetPortName: nexus.targetPortName,
        relativeTargetPortId: nexus.relativeTargetPortId,
        nexusKey: `${d.portName}|${nexus.targetPortName}`,
        transportId: d.transportId,
        allTgPt,
      });
    }
    return outcome;
  }

  /**
   * SPC-4 "Registering and moving the reservation" (REGISTER AND MOVE): the holder
   * registers another I_T nexus (TransportID + RELATIVE TARGET PORT IDENTIFIER),
   * hands it the reservation (same type and scope), and with UNREG = 1 unregisters
   * itself. Only iSCSI initiator-port TransportIDs (FORMAT CODE 01b) are accepted.
   */
  private registerAndMove(
    nexus: Nexus,
    listLength: number,
    param: Buffer,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const conflict = { status: 'RESERVATION_CONFLICT' as const, changed: false, aptplChanged: false };
    if (listLength < PR_OUT_BASIC_LENGTH || listLength > PR_OUT_MOVE_MAX_LENGTH || param.length < listLength) {
      throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    }
    const rk = param.readBigUInt64BE(0); // RESERVATION KEY
    const sark = param.readBigUInt64BE(8); // SERVICE ACTION RESERVATION KEY
    const flags = param.readUInt8(17); // UNREG (bit 1) | APTPL (bit 0)
    const unreg = (flags & 0x02) !== 0;
    const aptpl = (flags & 0x01) !== 0;
    const rtpi = param.readUInt16BE(18); // RELATIVE TARGET PORT IDENTIFIER
    const tidLength = param.readUInt32BE(20); // TRANSPORTID PARAMETER DATA LENGTH
    // The TransportID must fit in the parameter list the CDB announced.
    if (PR_OUT_BASIC_LENGTH + tidLength > listLength) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    if (aptpl && !this.ptplCapable) throw paramField(17, 0);

    const reg = this.findRegistration(nexus);
    if (reg === undefined || reg.key !== rk) return conflict;
    // "If the SERVICE ACTION RESERVATION KEY field is set to zero" → INVALID FIELD IN PARAMETER LIST.
    if (sark === 0n) throw paramField(8);
    const res = this.reservation;
    // Only the holder of a reservation that is not of an all-registrants type can move it.
    if (res === null || res.holder === null || !this.isHolder(res, reg, nexus)) return conflict;

    const tid = parseIscsiPortTransportId(param.subarray(PR_OUT_BASIC_LENGTH, PR_OUT_BASIC_LENGTH + tidLength));
    const destTargetPort = this.targetPortsById.get(rtpi);
    if (destTargetPort === undefined) throw paramField(18);
    const destPort = this.knownPortName(tid.initiatorPortName);
    // The destination may not be the I_T nexus the command came through.
    if (destPort === nexus.initiatorPortName && destTargetPort === nexus.targetPortName) throw paramField(24);

    let dest = this.registrations.find(
      (r) => r.initiatorPortName === destPort && (r.allTgPt || r.targetPortName === destTargetPort),
    );
    if (dest === undefined) {
      this.checkRegistrationRoom();
      dest = {
        key: sark,
        initiatorName: tid.initiatorName,
        initiatorPortName: destPort,
        targetPortName: destTargetPort,
        relativeTargetPortId: rtpi,
        nexusKey: `${destPort}|${destTargetPort}`,
        transportId: tid.transportId,
        allTgPt: false,
      };
      this.registrations.push(dest);
    }
    this.reservation = { type: res.type, holder: dest, holderTargetPortName: destTargetPort };
    if (unreg) this.unregisterQuiet(reg);
    this.bumpGeneration();
    const aptplChanged = this.aptpl !== aptpl;
    this.aptpl = aptpl;
    return { status: 'GOOD', changed: true, aptplChanged };
  }

  /** The initiator port name as a connected I_T nexus spells it (iSCSI names compare case-insensitively). */
  private knownPortName(name: string): string {
    if (this.nexusKeysByPort.has(name)) return name;
    const lower = name.toLowerCase();
    for (const known of this.nexusKeysByPort.keys()) if (known.toLowerCase() === lower) return known;
    return name;
  }

  /** SPC-4 "Registering" (tables "REGISTER" and "REGISTER AND IGNORE EXISTING KEY"). */
  private register(
    nexus: Nexus,
    ignoreExisting: boolean,
    rk: bigint,
    sark: bigint,
    allTgPt: boolean,
    aptpl: boolean,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const reg = this.findRegistration(nexus);
    const conflict = { status: 'RESERVATION_CONFLICT' as const, changed: false, aptplChanged: false };
    if (reg === undefined) {
      // Unregistered: REGISTER needs RESERVATION KEY 0.
      if (!ignoreExisting && rk !== 0n) return conflict;
      // SARK 0 from an unregistered I_T nexus: nothing happens, GOOD.
      if (sark === 0n) return { status: 'GOOD', changed: false, aptplChanged: false };
      const created: Registration = {
        key: sark,
        initiatorName: nexus.initiatorName,
        initiatorPortName: nexus.initiatorPortName,
        targetPortName: nexus.targetPortName,
        relativeTargetPortId: nexus.relativeTargetPortId,
        nexusKey: nexus.key,
        transportId: Buffer.from(nexus.transportId),
        allTgPt,
      };
      // SPC-4 "Registering": ALL_TG_PT = 1 registers the initiator port through every
      // target port with SARK. Registrations it already has through other target
      // ports (same ISID on several portal groups, as open-iscsi does) merge into
      // this one; a reservation held through one of them stays with that I_T nexus.
      const merged = allTgPt ? this.registrations.filter((r) => r.initiatorPortName === nexus.initiatorPortName) : [];
      if (merged.length === 0) this.checkRegistrationRoom();
      const res = this.reservation;
      for (const old of merged) {
        if (res !== null && res.holder === old) {
          res.holder = created;
          res.holderTargetPortName = old.targetPortName;
        }
      }
      if (merged.length > 0) this.registrations = this.registrations.filter((r) => !merged.includes(r));
      this.registrations.push(created);
    } else {
      if (!ignoreExisting && rk !== reg.key) return conflict;
      if (sark === 0n) {
        this.unregister(reg);
      } else {
        reg.key = sark;
      }
    }
    this.bumpGeneration();
    const aptplChanged = this.aptpl !== aptpl;
    this.aptpl = aptpl;
    return { status: 'GOOD', changed: true, aptplChanged };
  }

  /**
   * SPC-4 "Releasing persistent reservations and removing registrations"
   * (unregistering): the registration goes; a holder's reservation is released
   * (all-registrants: only with the last registrant), and for WERO/EARO the
   * REMAINING registrants get RESERVATIONS RELEASED. The unregistering nexus gets
   * no unit attention (libiscsi ProutReserve.Ownership* expects GOOD on its next
   * command; tgt gets this wrong).
   */
  private unregister(reg: Registration): void {
    this.registrations = this.registrations.filter((r) => r !== reg);
    const res = this.reservation;
    if (res === null) return;
    if (res.holder === null) {
      if (this.registrations.length === 0) this.reservation = null;
      return;
    }
    if (res.holder !== reg) return;
    this.reservation = null;
    if (res.type === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || res.type === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY) {
      for (const r of this.registrations) this.uaTo(r, 'RESERVATIONS_RELEASED');
    }
  }

  /** SPC-4 "Reserving". */
  private reserve(
    nexus: Nexus,
    reg: Registration,
    type: PrType,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const res = this.reservation;
    if (res !== null) {
      // Same holder, same type and scope: GOOD without change; anything else conflicts.
      const ok = this.isHolder(res, reg, nexus) && res.type === type;
      return { status: ok ? 'GOOD' : 'RESERVATION_CONFLICT', changed: false, aptplChanged: false };
    }
    this.reservation = {
      type,
      holder: isAllRegistrants(type) ? null : reg,
      holderTargetPortName: nexus.targetPortName,
    };
    return { status: 'GOOD', changed: true, aptplChanged: false };
  }

  /** SPC-4 "Releasing". */
  private release(
    nexus: Nexus,
    reg: Registration,
    type: PrType,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const res = this.reservation;
    // No reservation, or this nexus is not a holder: GOOD, nothing released.
    if (res === null || !this.isHolder(res, reg, nexus)) return { status: 'GOOD', changed: false, aptplChanged: false };
    // "If the ... TYPE field [does] not match the scope and type of the persistent
    // reservation being released" → INVALID RELEASE OF PERSISTENT RESERVATION.
    if (res.type !== type) throw new ScsiError('INVALID_RELEASE_OF_PERSISTENT_RESERVATION');
    this.reservation = null;
    // Releasing a registrants-only or all-registrants reservation: RESERVATIONS
    // RELEASED for every other registered I_T nexus.
    if (isRegistrantType(type)) {
      for (const r of this.registrations) if (r !== reg) this.uaTo(r, 'RESERVATIONS_RELEASED');
    }
    return { status: 'GOOD', changed: true, aptplChanged: false };
  }

  /** SPC-4 "Clearing". */
  private clear(reg: Registration): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const others = this.registrations.filter((r) => r !== reg);
    this.registrations = [];
    this.reservation = null;
    this.bumpGeneration();
    // RESERVATIONS PREEMPTED for every registered I_T nexus other than the one
    // that sent CLEAR.
    for (const r of others) this.uaTo(r, 'RESERVATIONS_PREEMPTED');
    return { status: 'GOOD', changed: true, aptplChanged: false };
  }

  /** SPC-4 "Preempting" (and "Preempting and aborting" for PREEMPT AND ABORT). */
  private preempt(
    nexus: Nexus,
    reg: Registration,
    type: PrType,
    sark: bigint,
    abort: boolean,
  ): { status: PrOutOutcome; changed: boolean; aptplChanged: boolean } {
    const res = this.reservation;
    const conflict = { status: 'RESERVATION_CONFLICT' as const, changed: false, aptplChanged: false };
    let removed: Registration[];
    let releasedUa = false;

    if (res !== null && res.holder === null && sark === 0n) {
      // All-registrants reservation and SARK 0: every other registration goes, and
      // the issuer gets a new reservation of the CDB's type.
      removed = this.registrations.filter((r) => r !== reg);
      this.registrations = [reg];
      this.reservation = {
        type,
        holder: isAllRegistrants(type) ? null : reg,
        holderTargetPortName: nexus.targetPortName,
      };
    } else if (res !== null && res.holder !== null && res.holder.key === sark) {
      // SARK names the holder: remove every registration with that key except the
      // issuer's, and move the reservation to the issuer with the CDB's type.
      removed = this.registrations.filter((r) => r !== reg && r.key === sark);
      this.registrations = this.registrations.filter((r) => r === reg || r.key !== sark);
      releasedUa = res.type !== type;
      this.reservation = {
        type,
        holder: isAllRegistrants(type) ? null : reg,
        holderTargetPortName: nexus.targetPortName,
      };
    } else {
      // No reservation, or SARK names non-holders: only registrations are removed.
      // "If the SERVICE ACTION RESERVATION KEY field is set to zero" → INVALID FIELD
      // IN PARAMETER LIST.
      if (sark === 0n) throw paramField(8);
      removed = this.registrations.filter((r) => r.key === sark);
      // "If the SERVICE ACTION RESERVATION KEY does not match any registered
      // reservation key" → RESERVATION CONFLICT.
      if (removed.length === 0) return conflict;
      for (const r of removed) this.unregisterQuiet(r);
    }

    this.bumpGeneration();
    const removedKeys: string[] = [];
    for (const r of removed) {
      if (r === reg) continue; // the issuer preempting its own key gets no UA
      this.uaTo(r, 'REGISTRATIONS_PREEMPTED');
      removedKeys.push(...this.nexusKeysOf(r));
    }
    if (releasedUa) {
      // Type or scope changed: RESERVATIONS RELEASED for the registrants that stay.
      for (const r of this.registrations) if (r !== reg) this.uaTo(r, 'RESERVATIONS_RELEASED');
    }
    if (abort && removedKeys.length > 0) this.abortTasks(removedKeys);
    return { status: 'GOOD', changed: true, aptplChanged: false };
  }

  /** Removes a registration without unit attentions (PREEMPT raises its own). */
  private unregisterQuiet(reg: Registration): void {
    this.registrations = this.registrations.filter((r) => r !== reg);
    const res = this.reservation;
    if (res === null) return;
    if (res.holder === reg || (res.holder === null && this.registrations.length === 0)) this.reservation = null;
  }

  // ---------------------------------------------------------------- helpers

  private findRegistration(nexus: Nexus): Registration | undefined {
    for (const r of this.registrations) {
      if (r.initiatorPortName === nexus.initiatorPortName && (r.allTgPt || r.targetPortName === nexus.targetPortName)) {
        return r;
      }
    }
    return undefined;
  }

  /** SPC-4 "Persistent reservation holder". */
  private isHolder(res: PersistentReservation, reg: Registration | undefined, nexus: Nexus): boolean {
    if (reg === undefined) return false;
    if (res.holder === null) return true;
    if (res.holder !== reg) return false;
    return !reg.allTgPt || res.holderTargetPortName === nexus.targetPortName;
  }

  /**
   * SPC-4 "Registering": without the resources for another registration the command
   * fails with INSUFFICIENT REGISTRATION RESOURCES (bounds memory and the APTPL file).
   */
  private checkRegistrationRoom(): void {
    if (this.registrations.length >= MAX_REGISTRATIONS) throw new ScsiError('INSUFFICIENT_REGISTRATION_RESOURCES');
  }

  private bumpGeneration(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  private noteNexus(nexus: Nexus): void {
    this.noteKey(nexus.initiatorPortName, nexus.key);
    this.targetPortsById.set(nexus.relativeTargetPortId, nexus.targetPortName);
  }

  private noteKey(initiatorPortName: string, nexusKey: string): void {
    let s = this.nexusKeysByPort.get(initiatorPortName);
    if (s === undefined) {
      s = new Set();
      this.nexusKeysByPort.set(initiatorPortName, s);
    }
    s.add(nexusKey);
  }

  /** Nexus keys a registration covers: its own, plus every known one of its initiator port with ALL_TG_PT. */
  private nexusKeysOf(r: Registration): string[] {
    if (!r.allTgPt) return [r.nexusKey];
    const keys = new Set<string>([r.nexusKey]);
    for (const k of this.nexusKeysByPort.get(r.initiatorPortName) ?? []) keys.add(k);
    return [...keys];
  }

  private uaTo(r: Registration, reason: PrEvent['reason']): void {
    if (this.pending !== undefined) {
      this.pending.uas.push({ reason, reg: r });
      return;
    }
    for (const k of this.nexusKeysOf(r)) this.deliverUa(k, reason);
  }

  private abortTasks(nexusKeys: string[]): void {
    if (this.pending !== undefined) this.pending.aborts.push(...nexusKeys);
    else this.deliverAbort?.(nexusKeys);
  }

  private snapshot(): SavedState {
    return this.snapshotOf(this.getFields());
  }

  private snapshotOf(f: PrFields): SavedState {
    const res = f.reservation;
    return {
      v: 1,
      generation: f.generation,
      aptpl: f.aptpl,
      registrations: f.registrations.map((r) => ({
        key: r.key.toString(16).padStart(16, '0'),
        initiatorName: r.initiatorName,
        initiatorPortName: r.initiatorPortName,
        targetPortName: r.targetPortName,
        relativeTargetPortId: r.relativeTargetPortId,
        nexusKey: r.nexusKey,
        transportId: r.transportId.toString('base64'),
        allTgPt: r.allTgPt,
      })),
      reservation:
        res === null
          ? null
          : {
              type: res.type,
              holder: res.holder === null ? -1 : f.registrations.indexOf(res.holder),
              holderTargetPortName: res.holderTargetPortName,
            },
    };
  }
}

/** SPC-4 "PROTOCOL IDENTIFIER values": iSCSI. */
const PROTOCOL_ISCSI = 0x5;

/**
 * SPC-4 "iSCSI TransportID" with FORMAT CODE 01b (initiator port: iSCSI name +
 * ",i,0x" + ISID) found at byte `at` of the parameter list. Throws INVALID FIELD
 * IN PARAMETER LIST (pointing into the parameter list) for anything else.
 */
function parseIscsiPortTransportId(
  tid: Buffer,
  at: number = PR_OUT_BASIC_LENGTH,
): {
  initiatorName: string;
  initiatorPortName: string;
  transportId: Buffer;
} {
  if (tid.length < 24) throw paramField(at === PR_OUT_BASIC_LENGTH ? 20 : at); // 4-byte header + at least 20 bytes
  const b0 = tid.readUInt8(0);
  if ((b0 & 0x0f) !== PROTOCOL_ISCSI) throw paramField(at, 3); // PROTOCOL IDENTIFIER
  if (b0 >> 6 !== 0x1) throw paramField(at, 7); // FORMAT CODE: initiator port only
  const addl = tid.readUInt16BE(2); // ADDITIONAL LENGTH
  if (addl < 20 || addl % 4 !== 0 || 4 + addl > tid.length) throw paramField(at + 2);
  const body = tid.subarray(4, 4 + addl);
  const nul = body.indexOf(0);
  const text = body.subarray(0, nul < 0 ? body.length : nul).toString('utf8');
  // iSCSI NAME, SEPARATOR ",i,0x", ISCSI INITIATOR SESSION ID (12 hex digits)
  const m = /^([^,\0]{1,223}),i,0x([0-9a-fA-F]{12})$/.exec(text);
  if (m === null) throw paramField(at + 4);
  const initiatorName = m[1] ?? '';
  return {
    initiatorName,
    initiatorPortName: `${initiatorName},i,0x${(m[2] ?? '').toLowerCase()}`,
    transportId: Buffer.from(tid.subarray(0, 4 + addl)),
  };
}

function bad(what: string): GatewayError {
  return new GatewayError('ERR_SCSI_PR_STATE', `persistent reservation state: ${what}`);
}

/** Validates a stored APTPL document (untrusted input: never crash on it). */
function parseSavedState(raw: unknown): SavedState {
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const o = raw as Record<string, unknown>;
  if (o['v'] !== 1) throw bad('unknown version');
  const generation = o['generation'];
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 0 || generation > 0xffffffff) {
    throw bad('bad generation');
  }
  const regs = o['registrations'];
  if (!Array.isArray(regs)) throw bad('registrations is not an array');
  const registrations: SavedState['registrations'] = regs.map((x: unknown, i) => {
    if (typeof x !== 'object' || x === null) throw bad(`registration ${i} is not an object`);
    const r = x as Record<string, unknown>;
    const str = (k: string): string => {
      const v = r[k];
      if (typeof v !== 'string') throw bad(`registration ${i}: ${k} is not a string`);
      return v;
    };
    const key = str('key');
    if (!/^[0-9a-f]{1,16}$/i.test(key) || /^0+$/.test(key)) throw bad(`registration ${i}: bad key`);
    const rtpi = r['relativeTargetPortId'];
    if (typeof rtpi !== 'number' || !Number.isInteger(rtpi) || rtpi < 0 || rtpi > 0xffff) {
      throw bad(`registration ${i}: bad relativeTargetPortId`);
    }
    const tid = str('transportId');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(tid)) throw bad(`registration ${i}: bad transportId`);
    if (typeof r['allTgPt'] !== 'boolean') throw bad(`registration ${i}: allTgPt is not a boolean`);
    return {
      key,
      initiatorName: str('initiatorName'),
      initiatorPortName: str('initiatorPortName'),
      targetPortName: str('targetPortName'),
      relativeTargetPortId: rtpi,
      nexusKey: str('nexusKey'),
      transportId: tid,
      allTgPt: r['allTgPt'],
    };
  });
  const resRaw = o['reservation'];
  let reservation: SavedState['reservation'] = null;
  if (resRaw !== null && resRaw !== undefined) {
    if (typeof resRaw !== 'object') throw bad('reservation is not an object');
    const r = resRaw as Record<string, unknown>;
    const type = r['type'];
    const holder = r['holder'];
    const htp = r['holderTargetPortName'];
    if (typeof type !== 'number' || !isPrType(type)) throw bad('bad reservation type');
    if (typeof holder !== 'number' || !Number.isInteger(holder) || holder < -1 || holder >= registrations.length) {
      throw bad('bad reservation holder');
    }
    if (!isAllRegistrants(type) && holder < 0) throw bad('reservation without holder');
    if (typeof htp !== 'string') throw bad('bad holderTargetPortName');
    reservation = { type, holder, holderTargetPortName: htp };
  }
  const aptpl = o['aptpl'];
  if (aptpl !== undefined && typeof aptpl !== 'boolean') throw bad('aptpl is not a boolean');
  const out: SavedState =
    aptpl === undefined ? { v: 1, generation, registrations, reservation } : { v: 1, generation, aptpl, registrations, reservation };
  const ev = o['events'];
  if (ev !== undefined) {
    if (!Array.isArray(ev) || ev.length > MAX_EVENTS) throw bad('events is not an array');
    out.events = ev.map((x: unknown, i): PrEvent => {
      const e = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
      const { ver, reason, initiatorPortName, nexusKey, allTgPt } = e;
      if (
        typeof ver !== 'number' ||
        !Number.isSafeInteger(ver) ||
        (reason !== 'RESERVATIONS_PREEMPTED' && reason !== 'RESERVATIONS_RELEASED' && reason !== 'REGISTRATIONS_PREEMPTED') ||
        typeof initiatorPortName !== 'string' ||
        typeof nexusKey !== 'string' ||
        typeof allTgPt !== 'boolean'
      ) {
        throw bad(`event ${i} is malformed`);
      }
      return { ver, reason, initiatorPortName, nexusKey, allTgPt };
    });
  }
  return out;
}
