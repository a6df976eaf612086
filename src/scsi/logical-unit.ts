/**
 * A logical unit: a backing store plus identity (wwn → unit serial and NAA
 * designator), geometry, limits, mode parameters, unit attentions and
 * reservations. Shared by every I_T nexus that maps it (SAM-5 "Logical unit").
 */
import type { BackingStore } from '../backstore/backstore.js';
import { LuIoStats } from './io-stats.js';
import { RangeLock } from './range-lock.js';
import { Reservations, type PrStore, type SharedPrStore } from './reservations.js';
import type { SenseFormat, SenseReason } from './sense.js';
import { UnitAttentions } from './unit-attention.js';
import type { Nexus } from './command.js';

export type { PrStore, SharedPrStore, SharedPrSnapshot } from './reservations.js';

export type AluaState = 'active-optimized' | 'active-non-optimized' | 'standby' | 'unavailable' | 'transitioning';

/**
 * Why a group is in its state, as REPORT TARGET PORT GROUPS reports it (SPC-4 "STATUS CODE field"):
 * 'none' 00h no status available, 'explicit' 01h altered by SET TARGET PORT GROUPS,
 * 'implicit' 02h altered by implicit asymmetric logical unit access behaviour.
 */
export type AluaStatus = 'none' | 'explicit' | 'implicit';

/** One target port group of the target (id = TPG tag). */
export interface AluaGroup {
  id: number;
  state: AluaState;
  relativePortIds: number[];
  /** RTPG PREF bit: a preferred group for this LU (SPC-4 "Preference Indicator"); default false. */
  preferred?: boolean;
  /** RTPG STATUS CODE; default 'implicit' (the gateway moves ownership by itself). */
  status?: AluaStatus;
}

/**
 * Asymmetric access management the LU offers (SPC-4 "Asymmetric logical unit access"):
 * 'implicit' (TPGS 01b) the target alone changes the states; 'explicit' (TPGS 11b) it still
 * does, and initiators may ask for states with SET TARGET PORT GROUPS too.
 */
export type AluaAccess = 'implicit' | 'explicit';

/** ASYMMETRIC ACCESS STATE codes SET TARGET PORT GROUPS accepts: 0h active/optimized, 1h active/non-optimized, 2h standby. */
export type SettableAccessState = 0x0 | 0x1 | 0x2;

/** One set target port group descriptor of a SET TARGET PORT GROUPS parameter list, validated. */
export interface TargetPortGroupRequest {
  /** TARGET PORT GROUP: the id of one of the LU's AluaGroups. */
  groupId: number;
  /** ASYMMETRIC ACCESS STATE asked for the group. */
  state: SettableAccessState;
}

/**
 * Carries out a validated SET TARGET PORT GROUPS (the HA layer moves the LU's ownership).
 * `requests` lists each group once, in parameter list order; `nexus` is the I_T nexus that sent it.
 * Answer undefined when the states are (or, for a transition that is not one indivisible
 * event, will be) in place, or a sense reason to refuse it, e.g. INVALID_FIELD_IN_PARAMETER_LIST
 * for a combination the HA policy does not allow or SET_TARGET_PORT_GROUPS_COMMAND_FAILED; a
 * rejected promise answers SET TARGET PORT GROUPS COMMAND FAILED. A second call may come before
 * an earlier one settled (another path, another initiator): SPC-4 says a target "should not
 * process multiple SET TARGET PORT GROUPS concurrently", so the handler serializes them (the HA
 * layer has to serialize ownership moves across gateways anyway).
 */
export type SetTargetPortGroups = (
  requests: TargetPortGroupRequest[],
  nexus: Nexus,
) => SenseReason | undefined | Promise<SenseReason | undefined>;

export interface LogicalUnitOptions {
  /** "pool/image". */
  name: string;
  backstore: BackingStore;
  /** Config wwn / unit serial (UUID-like): VPD 0x80 and the NAA designator in VPD 0x83. */
  wwn: string;
  /** Logical block length in bytes; 512 by default. */
  blockSize?: number;
  vendor?: string;
  product?: string;
  revision?: string;
  /** All target port groups of the target; read on every RTPG and ALUA gate. */
  aluaGroups: () => AluaGroup[];
  /** 'implicit' (default) or 'explicit' ALUA (iscsi-gateway.cfg alua_failover_type); explicit needs setTargetPortGroups. */
  aluaAccess?: AluaAccess;
  /** SET TARGET PORT GROUPS handler; required when aluaAccess is 'explicit', ignored otherwise. */
  setTargetPortGroups?: SetTargetPortGroups;
  /** APTPL persistence for a single gateway (ignored when sharedPr is given). */
  prStore?: PrStore;
  /** Persistent reservation state shared by every gateway exporting this LU. */
  sharedPr?: SharedPrStore;
  readOnly?: boolean;
  /** Caching mode page WCE (default true): writes are volatile until SYNCHRONIZE CACHE; false makes every write FUA. */
  writeCache?: boolean;
  maxTransferBlocks?: number;
  maxWriteSameBlocks?: number;
  maxUnmapBlocks?: number;
  maxUnmapDescriptors?: number;
  maxCompareAndWriteBlocks?: number;
  /** Physical block (allocation unit) in bytes for READ CAPACITY(16) / unmap granularity; the block size by default. */
  physicalBlockSize?: number;
  /** Decides whether medium changes may run here now (HA: exclusive lock, lease). Absent: always. */
  writeArbiter?: WriteArbiter;
  /** The other gateways exporting this LU (HA): told of resets. Absent: this gateway only. */
  peers?: LuPeers;
}

/** The reset unit attentions (SAM-5 "LOGICAL UNIT RESET", "TARGET RESET"). */
export type ResetReason = 'BUS_DEVICE_RESET' | 'POWER_ON_RESET';

/**
 * The other gateways exporting the LU. SAM-5 wants a reset's unit attention on every I_T
 * nexus of the LU, those through other gateways included (iscsi-test-cu MultipathIO.Reset):
 * `reset()` settles once the peers have queued it (or gave up, bounded by the HA layer).
 */
export interface LuPeers {
  reset(reason: ResetReason): Promise<void>;
}

/**
 * Arbiter of medium changes when several gateways export the LU (gateway/ha): before a command
 * that changes the medium runs, `begin()` answers undefined (go on), a sense reason (refuse it,
 * e.g. ALUA_TRANSITION while the image's exclusive lock moves to this gateway), or a promise of
 * either (the command waits for a short transition). Every granted begin() is followed by one
 * end() once the command has finished, so the arbiter knows when in-flight writes have drained.
 */
export interface WriteArbiter {
  begin(): SenseReason | undefined | Promise<SenseReason | undefined>;
  end(): void;
}

/** The PR engine as the dispatcher uses it (src/scsi/reservations.ts implements it). */
export interface PrEngine {
  load(): Promise<void>;
  conflicts(nexus: Nexus, cdb: Buffer): boolean;
  /** Synchronous unless the state is shared (then it re-reads when another gateway changed it). */
  persistentReserveIn(nexus: Nexus, cdb: Buffer): Buffer | Promise<Buffer>;
  persistentReserveOut(nexus: Nexus, cdb: Buffer, param: Buffer): Promise<'GOOD' | 'RESERVATION_CONFLICT'>;
  reserve6(nexus: Nexus): 'GOOD' | 'RESERVATION_CONFLICT';
  release6(nexus: Nexus): 'GOOD';
  nexusLoss(nexus: Nexus): void;
  reset(): void;
  /** LU close: stop following shared state. */
  close(): Promise<void>;
}

/** Mode parameters the device server honours (current values, shared by all nexuses). */
export interface ModeState {
  /** Control mode page D_SENSE: descriptor format sense data. */
  dSense: boolean;
  /** Control mode page SWP: software write protect. */
  swp: boolean;
  /** Caching mode page WCE. */
  wce: boolean;
}

export class LogicalUnit {
  readonly name: string;
  readonly wwn: string;
  readonly backstore: BackingStore;
  readonly blockSize: number;
  /** log2(physical block / logical block): READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT. */
  readonly lbppbExponent: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly readOnly: boolean;
  readonly maxTransferBlocks: number;
  readonly maxWriteSameBlocks: number;
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  readonly maxCompareAndWriteBlocks: number;
  readonly aluaGroups: () => AluaGroup[];
  readonly aluaAccess: AluaAccess;
  /** @internal called by SET TARGET PORT GROUPS (explicit ALUA only). */
  readonly setTargetPortGroups: SetTargetPortGroups | undefined;
  /** @internal consulted by dispatch before every medium change. */
  readonly writeArbiter: WriteArbiter | undefined;
  readonly #peers: LuPeers | undefined;
  /** @internal per-nexus unit attention queues. */
  readonly ua = new UnitAttentions();
  /** @internal persistent reservations and RESERVE(6), as the dispatcher calls them. */
  readonly pr: PrEngine;
  /** The reservation state machine behind `pr` (status, diagnostics, tests). */
  readonly reservations: Reservations;
  /** @internal COMPARE AND WRITE atomicity when the backstore has no native CAW. */
  readonly rangeLock = new RangeLock();
  /** @internal */
  readonly mode: ModeState;
  /** Commands, bytes, latencies and in-flight count (read by the metrics exporter). */
  readonly stats = new LuIoStats();
  private closed = false;

  constructor(opts: LogicalUnitOptions) {
    const bs = opts.blockSize ?? 512;
    if (!Number.isInteger(bs) || bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0) {
      throw new RangeError(`invalid block size ${String(opts.blockSize)}`);
    }
    this.name = opts.name;
    this.wwn = opts.wwn;
    this.backstore = opts.backstore;
    this.blockSize = bs;
    // LIO/tcmu-runner report LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 0 by default.
    const phys = Math.max(opts.physicalBlockSize ?? bs, bs);
    this.lbppbExponent = Math.max(0, Math.round(Math.log2(phys / bs)));
    this.vendor = opts.vendor ?? 'LIO-ORG';
    this.product = opts.product ?? 'TCMU device';
    this.revision = opts.revision ?? '0002';
    this.readOnly = opts.readOnly ?? false;
    // 1 MiB by default (ceph-iscsi hw_max_sectors is 512 KiB): bounds the Data-Out/Data-In buffers
    // one command can pin to MaxCmdSN window × 1 MiB per session.
    this.maxTransferBlocks = opts.maxTransferBlocks ?? Math.max(1, Math.floor((1024 * 1024) / bs));
    this.maxWriteSameBlocks = opts.maxWriteSameBlocks ?? 0x2000;
    this.maxUnmapBlocks = opts.maxUnmapBlocks ?? Math.max(1, Math.floor((64 * 1024 * 1024) / bs));
    this.maxUnmapDescriptors = opts.maxUnmapDescriptors ?? 256;
    this.maxCompareAndWriteBlocks = Math.min(255, opts.maxCompareAndWriteBlocks ?? 128);
    this.aluaGroups = opts.aluaGroups;
    this.aluaAccess = opts.aluaAccess ?? 'implicit';
    if (this.aluaAccess === 'explicit' && opts.setTargetPortGroups === undefined) {
      throw new TypeError('explicit ALUA needs a setTargetPortGroups handler');
    }
    this.setTargetPortGroups = this.aluaAccess === 'explicit' ? opts.setTargetPortGroups : undefined;
    this.writeArbiter = opts.writeArbiter;
    this.#peers = opts.peers;
    this.mode = { dSense: false, swp: false, wce: opts.writeCache ?? true };
    const prOpts: ConstructorParameters<typeof Reservations>[0] = {
      establishUa: (nexusKey: string, reason: SenseReason) => this.ua.establish(nexusKey, reason),
      // Unit attentions replayed from another gateway's PR OUT: only for nexuses that exist here.
      nexusKnown: (nexusKey: string) => this.ua.isKnown(nexusKey),
    };
    if (opts.prStore !== undefined) prOpts.store = opts.prStore;
    if (opts.sharedPr !== undefined) prOpts.shared = opts.sharedPr;
    const r = new Reservations(prOpts);
    this.reservations = r;
    // The engine the dispatcher calls: PR IN goes through the variant that re-reads shared state.
    this.pr = {
      load: () => r.load(),
      conflicts: (nexus, cdb) => r.conflicts(nexus, cdb),
      persistentReserveIn: (nexus, cdb) => r.persistentReserveInLatest(nexus, cdb),
      persistentReserveOut: (nexus, cdb, param) => r.persistentReserveOut(nexus, cdb, param),
      reserve6: (nexus) => r.reserve6(nexus),
      release6: (nexus) => r.release6(nexus),
      nexusLoss: (nexus) => r.nexusLoss(nexus),
      reset: () => r.reset(),
      close: () => r.close(),
    };
  }

  /** Loads the persistent reservation state (APTPL store, or the state shared with the other gateways). */
  async open(): Promise<void> {
    await this.pr.load();
  }

  /** Capacity in logical blocks (read from the backstore on each call: resize is visible at once). */
  get capacityBlocks(): number {
    return Math.floor(this.backstore.sizeBytes / this.blockSize);
  }

  /** Thin provisioned: the backstore can deallocate (UNMAP, WRITE SAME with UNMAP, LBPME). */
  get thin(): boolean {
    return typeof this.backstore.discard === 'function';
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sense data format currently selected by the Control mode page D_SENSE bit. */
  get senseFormat(): SenseFormat {
    return this.mode.dSense ? 'descriptor' : 'fixed';
  }

  /**
   * A reset of this LU (SAM-5): RESERVE(6) released, the reset unit attention queued for every
   * I_T nexus. A reset asked here (`fromPeer` false) reaches the other gateways too: the promise
   * settles once they have queued their unit attentions; it never rejects.
   */
  reset(reason: ResetReason, fromPeer = false): Promise<void> {
    this.pr.reset();
    this.ua.establishAll(reason);
    if (fromPeer || this.#peers === undefined) return Promise.resolve();
    return this.#peers.reset(reason).catch(() => undefined);
  }

  /** After backstore.resize: CAPACITY DATA HAS CHANGED to every nexus (SBC-4 "Capacity data"). */
  capacityChanged(): void {
    this.ua.establishAll('CAPACITY_DATA_HAS_CHANGED');
  }

  /**
   * ASYMMETRIC ACCESS STATE CHANGED to every nexus (SPC-4 "Transitions between target port
   * asymmetric access states"). After an explicit change pass the key of the nexus that sent
   * SET TARGET PORT GROUPS: it does not get the condition.
   */
  aluaChanged(exceptNexusKey?: string): void {
    this.ua.establishAll('ASYMMETRIC_ACCESS_STATE_CHANGED', exceptNexusKey);
  }

  /** The ALUA access state of the group a nexus reaches this LU through (active-optimized when unknown). */
  aluaStateFor(nexus: Nexus): AluaState {
    const groups = this.aluaGroups();
    for (const g of groups) {
      if (g.id === nexus.targetPortGroupId) return g.state;
    }
    return 'active-optimized';
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pr.close();
  }
}
