/**
 * Command table types (tgt/gotgt ops table + LIO parse/execute split, STYLE.md §4.6).
 * spc.ts and sbc.ts export arrays of CommandDescriptor; dispatch.ts indexes them.
 */
import type { Nexus, ScsiRequest, ScsiResult } from './command.js';
import type { ClientIo } from './io-stats.js';
import type { LogicalUnit } from './logical-unit.js';

/**
 * Least available ALUA access state in which a command is still processed
 * (SPC-4 "Asymmetric logical unit access", LIO core_alua_state_*):
 * ACTIVE: only active/optimized or active/non-optimized; STANDBY: also standby;
 * UNAVAILABLE: also unavailable; TRANSITIONING: in every state.
 */
export const AluaAllowed = { ACTIVE: 0, STANDBY: 1, UNAVAILABLE: 2, TRANSITIONING: 3 } as const;
export type AluaAllowed = (typeof AluaAllowed)[keyof typeof AluaAllowed];

/** What parse() found in the CDB; fields not used by a command stay 0. */
export interface Parsed {
  /** Bytes to collect from the initiator before execute(). */
  dataOutLength: number;
  /** Largest Data-In the command returns (ALLOCATION LENGTH or transfer length). */
  dataInLength: number;
  lba: number;
  blocks: number;
  /** Command-specific flag bits (FUA, BYTCHK, UNMAP, ...). */
  flags: number;
}

/** Copy status of an EXTENDED COPY held for RECEIVE COPY RESULTS (SPC-4 "COPY STATUS service action"). */
export interface CopyStatus {
  /** COPY MANAGER STATUS: 1 completed without errors, 2 completed with errors. */
  status: 1 | 2;
  segmentsProcessed: number;
  transferredBytes: number;
}

export interface PortContext {
  /** LUNs visible to this nexus, ascending. */
  luns(): number[];
  /** The LU behind a LUN of this nexus (EXTENDED COPY looks its copy targets up here). */
  logicalUnit(lun: number): LogicalUnit | undefined;
  /** Held EXTENDED COPY results of this I_T nexus by LIST IDENTIFIER (dropped with the nexus). */
  readonly copyResults: Map<number, CopyStatus>;
}

/** PreparedCommand.state: everything execute() needs, allocated once per command. */
export interface ExecContext {
  readonly entry: CommandDescriptor;
  readonly lu: LogicalUnit;
  readonly nexus: Nexus;
  readonly req: ScsiRequest;
  readonly port: PortContext;
  readonly p: Parsed;
  /** The initiator's I/O counters on this LU (absent: not counted per client). */
  readonly client?: ClientIo | undefined;
}

/** Buffer: Data-In (GOOD, truncated to dataInLength by dispatch); undefined: GOOD without data. */
export type ExecResult = Buffer | ScsiResult | undefined;

export interface CommandDescriptor {
  readonly op: number;
  /** Service action (commands whose CDB byte 1 bits 4-0 select a service action). */
  readonly sa?: number;
  readonly name: string;
  /** SPC-4 "CDB USAGE DATA" for REPORT SUPPORTED OPERATION CODES: byte 0 = opcode, then the usable bits. */
  readonly usage: readonly number[];
  readonly alua: AluaAllowed;
  /** Changes the medium: refused with WRITE PROTECTED on a read-only LU or with SWP set. */
  readonly write?: boolean;
  /** false: skip the reservation conflict check (commands SPC-4 allows under every reservation type). */
  readonly pr?: boolean;
  /**
   * Supported only by some LUs (absent: by every LU). An LU for which it answers false neither
   * lists the command in REPORT SUPPORTED OPERATION CODES nor runs it: INVALID COMMAND OPERATION CODE.
   */
  readonly available?: (lu: LogicalUnit) => boolean;
  /** Reported and executed even with a pending unit attention (SAM-5: INQUIRY, REPORT LUNS, REQUEST SENSE). */
  readonly uaExempt?: boolean;
  /** Nominal and recommended timeouts for RSOC RCTD (seconds). */
  readonly timeoutSec?: number;
  /** Synchronous CDB validation; throws ScsiError. */
  parse(cdb: Buffer, lu: LogicalUnit): Parsed;
  execute(ctx: ExecContext): Promise<ExecResult> | ExecResult;
}

export function parsed(dataOutLength: number, dataInLength: number, lba = 0, blocks = 0, flags = 0): Parsed {
  return { dataOutLength, dataInLength, lba, blocks, flags };
}
