/**
 * The transport-neutral boundary between a fabric (iSCSI today) and the SCSI
 * device server. Nothing here knows about PDUs, ITTs or sockets (SPDK
 * include/spdk/scsi.h idea): the iSCSI layer turns PDUs into ScsiRequest and
 * ScsiResult back into PDUs.
 *
 * Life of a command (LIO parse/execute split):
 *   1. transport builds a ScsiRequest (dataOut = null) and calls port.prepare(req)
 *   2. prepare() validates the CDB and the generic gates (LUN, UA, reservation,
 *      ALUA) synchronously and returns either a final ScsiResult (e.g. CHECK
 *      CONDITION) or a PreparedCommand telling how many bytes to solicit;
 *   3. transport collects exactly `dataOutLength` bytes (immediate data, R2T +
 *      Data-Out) into req.dataOut, then calls port.execute(req, prepared);
 *   4. execute() resolves with the ScsiResult (never rejects); the transport
 *      computes residuals from the EDTL and the lengths in the result.
 */

/** SAM status codes. */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

/** SAM task attributes (values as in the iSCSI ATTR field). */
export const TaskAttribute = {
  UNTAGGED: 0,
  SIMPLE: 1,
  ORDERED: 2,
  HEAD_OF_QUEUE: 3,
  ACA: 4,
} as const;
export type TaskAttribute = (typeof TaskAttribute)[keyof typeof TaskAttribute];

/**
 * One I_T nexus (SAM): who sends the command, through which target port.
 * The transport builds it once per session.
 */
export interface Nexus {
  /** Stable key for maps (unit attentions, reservations): initiatorPortName + "|" + targetPortName. */
  readonly key: string;
  /** SCSI initiator name, e.g. the initiator IQN. */
  readonly initiatorName: string;
  /** SCSI initiator port name, e.g. "iqn...,i,0x23d000000001" (iSCSI: name + ISID). */
  readonly initiatorPortName: string;
  /** SCSI target name, e.g. the target IQN. */
  readonly targetName: string;
  /** SCSI target port name, e.g. "iqn...,t,0x0001" (iSCSI: name + TPGT). */
  readonly targetPortName: string;
  /** RELATIVE TARGET PORT IDENTIFIER (VPD 0x83, RTPG); iSCSI: the TPG tag. */
  readonly relativeTargetPortId: number;
  /** TARGET PORT GROUP (ALUA); iSCSI: the TPG tag as well. */
  readonly targetPortGroupId: number;
  /**
   * The initiator's TransportID as PERSISTENT RESERVE IN READ FULL STATUS reports it
   * (SPC-4 "TransportID"; the fabric encodes it, the SCSI layer only stores and compares it).
   */
  readonly transportId: Buffer;
}

export interface ScsiRequest {
  readonly nexus: Nexus;
  /** LUN as a flat number (0-16383, SAM "peripheral"/"flat" addressing decoded by the transport). */
  readonly lun: number;
  readonly cdb: Buffer;
  readonly taskAttribute: TaskAttribute;
  /** Expected Data Transfer Length from the transport (bytes); informational for the SCSI layer. */
  readonly expectedDataLength: number;
  /** Data-Out bytes, exactly PreparedCommand.dataOutLength long; null until the transport collected them. */
  dataOut: Buffer | null;
  /** Set by the transport when the task is aborted (ABORT TASK, LUN RESET, ...). Long operations check it. */
  aborted?: boolean;
}

export interface PreparedCommand {
  readonly kind: 'prepared';
  /** Bytes the command needs from the initiator (0 for none). */
  readonly dataOutLength: number;
  /** Maximum bytes the command will return (0 for none); the result may carry less. */
  readonly dataInLength: number;
  /** Opaque to the transport: the table entry and parsed fields. */
  readonly state: unknown;
}

export interface ScsiResult {
  readonly kind: 'result';
  readonly status: ScsiStatus;
  /**
   * Data-In bytes (already truncated to the allocation length). It may be lent by
   * util/buffer-pool's ioBuffers (large reads): the transport releases it once written.
   */
  readonly dataIn?: Buffer;
  /** Sense data (fixed or descriptor format), only with CHECK CONDITION. */
  readonly sense?: Buffer;
}

/** SAM task management functions that reach the SCSI layer. */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
} as const;
export type TmfFunction = (typeof TmfFunction)[keyof typeof TmfFunction];

/**
 * What a transport talks to: the SCSI device server as one I_T nexus sees it
 * (its LUN map already applied: LUN masking lives in the composition layer).
 */
export interface ScsiPort {
  /** Synchronous: CDB parse and generic gates. Never throws. */
  prepare(req: ScsiRequest): PreparedCommand | ScsiResult;
  /** Runs the command. Never rejects: errors become CHECK CONDITION results. */
  execute(req: ScsiRequest, prepared: PreparedCommand): Promise<ScsiResult>;
  /**
   * Side effects of a task management function on the device server (SAM-5):
   * LOGICAL UNIT RESET / TARGET RESET release RESERVE(6) reservations and queue
   * the reset unit attention for the other nexuses. The transport itself aborts
   * its outstanding tasks. Returns false when the LUN does not exist.
   */
  taskManagement(fn: TmfFunction, lun: number): boolean;
  /**
   * Settles when the side effects of the task management functions run so far have reached
   * every gateway exporting the LUs (a reset's unit attention on their nexuses); the transport
   * answers the TMF after it. Never rejects.
   */
  settled?(): Promise<void>;
  /** The session of this nexus ended (I_T nexus loss): RESERVE(6) released, UAs queued. */
  close(): void;
}
