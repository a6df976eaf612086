/**
 * SANITIZE (SBC-4 "SANITIZE command", opcode 48h): BLOCK ERASE and EXIT FAILURE
 * MODE. Not offered, hence absent from REPORT SUPPORTED OPERATION CODES and
 * INVALID FIELD IN CDB as service actions: CRYPTO ERASE (no per-LU encryption key
 * to change) and OVERWRITE (writing every block of a multi-TiB RBD image keeps the
 * LU NOT READY for hours and loads the whole cluster; BLOCK ERASE deallocates the
 * same LBAs in one discard). The operation belongs to the logical unit, not
 * to the command: it keeps running after ABORT TASK, resets and nexus loss, and
 * until it ends every other command (but INQUIRY, REPORT LUNS, REQUEST SENSE) is
 * NOT READY / SANITIZE IN PROGRESS (SBC-4 "Sanitize operations").
 */
import { checkControl, invalidField } from './cdb.js';
import { ScsiOp, SanitizeAction } from './constants.js';
import { AluaAllowed, parsed, type CommandDescriptor, type ExecContext, type Parsed } from './descriptor.js';
import type { LogicalUnit } from './logical-unit.js';
import { ScsiError, type SenseReason } from './sense.js';

interface SanitizeState {
  /** The running operation, or null when idle. */
  running: Promise<void> | null;
  /** The last sanitize operation failed: medium access is refused until EXIT FAILURE MODE or a good sanitize. */
  failed: boolean;
}

const STATES = new WeakMap<LogicalUnit, SanitizeState>();

function stateOf(lu: LogicalUnit): SanitizeState {
  let s = STATES.get(lu);
  if (s === undefined) {
    s = { running: null, failed: false };
    STATES.set(lu, s);
  }
  return s;
}

/**
 * The gate dispatch applies before any command but INQUIRY / REPORT LUNS / REQUEST SENSE:
 * SANITIZE IN PROGRESS while an operation runs (SBC-4 "Sanitize operations"); after a
 * failed one, SANITIZE COMMAND FAILED for everything but SANITIZE (which may exit the mode).
 */
export function sanitizeGate(lu: LogicalUnit, op: number): SenseReason | undefined {
  const s = STATES.get(lu);
  if (s === undefined) return undefined;
  if (s.running !== null) return 'SANITIZE_IN_PROGRESS';
  if (s.failed && op !== ScsiOp.SANITIZE) return 'SANITIZE_COMMAND_FAILED';
  return undefined;
}

/** True while a sanitize operation runs on the LU (tests, status). */
export function sanitizeInProgress(lu: LogicalUnit): boolean {
  return STATES.get(lu)?.running != null;
}

/** Resolves when the LU's sanitize operation (if any) has ended. */
export async function sanitizeSettled(lu: LogicalUnit): Promise<void> {
  const r = STATES.get(lu)?.running;
  if (r != null) await r.catch(() => undefined);
}

const F_IMMED = 0x01;
const F_EXIT = 0x02;

// ---- parse ---------------------------------------------------------------------------

function parseSanitize(cdb: Buffer): Parsed {
  // Byte 1: IMMED (7), reserved (6), AUSE (5), SERVICE ACTION (4-0); bytes 2-6 reserved.
  if ((cdb.readUInt8(1) & 0x40) !== 0) throw invalidField(1, 6);
  for (let i = 2; i <= 6; i++) if (cdb.readUInt8(i) !== 0) throw invalidField(i);
  checkControl(cdb, 9);
  const sa = cdb.readUInt8(1) & 0x1f;
  const paramLen = cdb.readUInt16BE(7);
  const flags = (cdb.readUInt8(1) & 0x80) !== 0 ? F_IMMED : 0;
  // BLOCK ERASE / EXIT FAILURE MODE: a non-zero PARAMETER LIST LENGTH → INVALID FIELD IN CDB.
  if (paramLen !== 0) throw invalidField(7);
  return parsed(0, 0, 0, 0, flags | (sa === SanitizeAction.EXIT_FAILURE_MODE ? F_EXIT : 0));
}

// ---- execute -------------------------------------------------------------------------

/**
 * BLOCK ERASE: deallocate every LBA (LBPRZ 1: they read back as zeroes, hence WABEREQ 01b).
 * Registered only on thin LUs (sbc.ts THIN_ONLY_OPS), as UNMAP. Commands already running
 * finish first: the erase holds the whole LBA range exclusively.
 */
async function blockErase(lu: LogicalUnit): Promise<void> {
  const store = lu.backstore;
  const discard = store.discard;
  if (discard === undefined) throw new ScsiError('INVALID_COMMAND_OPCODE');
  const cap = lu.capacityBlocks;
  const release = await lu.rangeLock.acquireExclusive(0, cap);
  try {
    await discard.call(store, 0, cap * lu.blockSize);
    await store.flush();
  } finally {
    release();
  }
}

async function executeSanitize(ctx: ExecContext): Promise<undefined> {
  const { lu, p } = ctx;
  const s = stateOf(lu);
  if (s.running !== null) throw new ScsiError('SANITIZE_IN_PROGRESS');
  if ((p.flags & F_EXIT) !== 0) {
    // SBC-4 "EXIT FAILURE MODE service action": leaves the failure mode without sanitizing.
    s.failed = false;
    return undefined;
  }
  const running = (async () => {
    try {
      await blockErase(lu);
      s.failed = false;
    } catch (err) {
      s.failed = true;
      throw err;
    } finally {
      s.running = null;
    }
  })();
  s.running = running;
  if ((p.flags & F_IMMED) !== 0) {
    // IMMED 1: GOOD once the operation has started; a later failure shows as SANITIZE COMMAND FAILED.
    running.catch(() => undefined);
    return undefined;
  }
  try {
    await running;
  } catch {
    throw new ScsiError('SANITIZE_COMMAND_FAILED');
  }
  return undefined;
}

// ---- the table -----------------------------------------------------------------------

const usage = (sa: number) => [ScsiOp.SANITIZE, 0xa0 | sa, 0, 0, 0, 0, 0, 0xff, 0xff, 0x00];

const common = {
  op: ScsiOp.SANITIZE,
  alua: AluaAllowed.ACTIVE,
  write: true,
  // Discarding a whole multi-TiB image takes a while on RBD: a generous nominal timeout for RCTD.
  timeoutSec: 600,
  parse: parseSanitize,
  execute: executeSanitize,
} as const;

export const SANITIZE_COMMANDS: readonly CommandDescriptor[] = [
  { ...common, sa: SanitizeAction.BLOCK_ERASE, name: 'SANITIZE BLOCK ERASE', usage: usage(SanitizeAction.BLOCK_ERASE) },
  { ...common, sa: SanitizeAction.EXIT_FAILURE_MODE, name: 'SANITIZE EXIT FAILURE MODE', usage: usage(SanitizeAction.EXIT_FAILURE_MODE) },
];
