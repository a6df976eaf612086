/**
 * iSCSI wire constants (RFC 7143 §11). Spec spelling in SCREAMING_SNAKE inside
 * `as const` objects, plus reverse maps for logs.
 */

/** RFC 7143 §11.2.1.2 "Opcode". Initiator opcodes 0x00-0x1f, target opcodes 0x20-0x3f. */
export const IscsiOp = {
  // initiator → target
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  SCSI_DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  // target → initiator
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  SCSI_DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;
export type IscsiOp = (typeof IscsiOp)[keyof typeof IscsiOp];

/** Opcodes an initiator sends (what the target decodes). */
export type InitiatorOp =
  | typeof IscsiOp.NOP_OUT
  | typeof IscsiOp.SCSI_COMMAND
  | typeof IscsiOp.TASK_MGMT_REQUEST
  | typeof IscsiOp.LOGIN_REQUEST
  | typeof IscsiOp.TEXT_REQUEST
  | typeof IscsiOp.SCSI_DATA_OUT
  | typeof IscsiOp.LOGOUT_REQUEST
  | typeof IscsiOp.SNACK_REQUEST;
export type TargetOp = Exclude<IscsiOp, InitiatorOp>;

/** Size of the Basic Header Segment (RFC 7143 §11.2.1). */
export const BHS_LENGTH = 48;
/** Size of a header or data digest (CRC32C, RFC 7143 §11.2.3). */
export const DIGEST_LENGTH = 4;
/** DataSegmentLength is a 24-bit field (RFC 7143 §11.2.1.5): the absolute ceiling. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;
/** TotalAHSLength is 8 bits in 4-byte words (RFC 7143 §11.2.1.4). */
export const MAX_AHS_LENGTH = 255 * 4;
/** The reserved tag value (RFC 7143 §11.2.1.8 / §11.9.4: 0xffffffff). */
export const RESERVED_TAG = 0xffffffff;

/** Byte 0 bits (RFC 7143 §11.2.1.1). */
export const BHS_IMMEDIATE = 0x40;
export const BHS_OPCODE_MASK = 0x3f;

/** Byte 1 flag bits, per PDU type (RFC 7143 §11). */
export const Flag = {
  /** F (Final) bit: most PDUs. */
  FINAL: 0x80,
  // SCSI Command §11.3.1
  READ: 0x40,
  WRITE: 0x20,
  ATTR_MASK: 0x07,
  // SCSI Response §11.4 / Data-In §11.7
  BIDI_OVERFLOW: 0x10, // o
  BIDI_UNDERFLOW: 0x08, // u
  OVERFLOW: 0x04, // O
  UNDERFLOW: 0x02, // U
  ACKNOWLEDGE: 0x40, // A (Data-In)
  STATUS: 0x01, // S (Data-In)
  // Login §11.12 / Text §11.10
  TRANSIT: 0x80, // T (login)
  CONTINUE: 0x40, // C (login, text)
  CSG_MASK: 0x0c,
  NSG_MASK: 0x03,
  // TMF request function / logout reason / SNACK type live in the low bits
  FUNCTION_MASK: 0x7f,
  SNACK_TYPE_MASK: 0x0f,
} as const;

/** Login stages for CSG/NSG (RFC 7143 §11.12.3). 2 is reserved. */
export const LoginStage = {
  SECURITY_NEGOTIATION: 0,
  LOGIN_OPERATIONAL_NEGOTIATION: 1,
  FULL_FEATURE_PHASE: 3,
} as const;
export type LoginStage = (typeof LoginStage)[keyof typeof LoginStage];

/** Version-max / Version-min / Version-active (RFC 7143 §11.12.4): only 0x00 is defined. */
export const ISCSI_VERSION = 0x00;

/** Login Response Status-Class (RFC 7143 §11.13.5). */
export const LoginStatusClass = {
  SUCCESS: 0x00,
  REDIRECTION: 0x01,
  INITIATOR_ERROR: 0x02,
  TARGET_ERROR: 0x03,
} as const;
export type LoginStatusClass = (typeof LoginStatusClass)[keyof typeof LoginStatusClass];

/**
 * Login status as (Status-Class << 8) | Status-Detail (RFC 7143 §11.13.5).
 * Use loginStatusClass()/loginStatusDetail() to split.
 */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILED: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;
export type LoginStatus = (typeof LoginStatus)[keyof typeof LoginStatus];
export const loginStatusClass = (s: number): number => (s >>> 8) & 0xff;
export const loginStatusDetail = (s: number): number => s & 0xff;

/** Reject reasons (RFC 7143 §11.17.1). */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OPERATION_REJECT: 0x0a,
  NEGOTIATION_RESET: 0x0b, // deprecated in RFC 7143
  WAITING_FOR_LOGOUT: 0x0c,
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** Task Management Function Request function codes (RFC 7143 §11.5.1). */
export const TmfFunctionCode = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;
export type TmfFunctionCode = (typeof TmfFunctionCode)[keyof typeof TmfFunctionCode];

/** Task Management Function Response codes (RFC 7143 §11.6.1). */
export const TmfResponse = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED: 4,
  FUNCTION_NOT_SUPPORTED: 5,
  FUNCTION_AUTHORIZATION_FAILED: 6,
  FUNCTION_REJECTED: 255,
} as const;
export type TmfResponse = (typeof TmfResponse)[keyof typeof TmfResponse];

/** SCSI Response "Response" field (RFC 7143 §11.4.3). */
export const ScsiResponseCode = {
  COMMAND_COMPLETED_AT_TARGET: 0x00,
  TARGET_FAILURE: 0x01,
} as const;
export type ScsiResponseCode = (typeof ScsiResponseCode)[keyof typeof ScsiResponseCode];

/** Logout Request reason codes (RFC 7143 §11.14.1). */
export const LogoutReason = {
  CLOSE_SESSION: 0,
  CLOSE_CONNECTION: 1,
  REMOVE_CONNECTION_FOR_RECOVERY: 2,
} as const;
export type LogoutReason = (typeof LogoutReason)[keyof typeof LogoutReason];

/** Logout Response codes (RFC 7143 §11.15.1). */
export const LogoutResponseCode = {
  CLOSED_SUCCESSFULLY: 0,
  CID_NOT_FOUND: 1,
  RECOVERY_NOT_SUPPORTED: 2,
  CLEANUP_FAILED: 3,
} as const;
export type LogoutResponseCode = (typeof LogoutResponseCode)[keyof typeof LogoutResponseCode];

/** Async Message AsyncEvent codes (RFC 7143 §11.9.1). */
export const AsyncEvent = {
  SCSI_ASYNC_EVENT: 0,
  LOGOUT_REQUEST: 1,
  CONNECTION_DROP: 2,
  SESSION_DROP: 3,
  NEGOTIATION_REQUEST: 4,
  TASK_TERMINATION: 5,
  VENDOR_SPECIFIC: 255,
} as const;
export type AsyncEvent = (typeof AsyncEvent)[keyof typeof AsyncEvent];

/** SNACK Request types (RFC 7143 §11.16.1). */
export const SnackType = {
  DATA_R2T: 0,
  STATUS: 1,
  DATA_ACK: 2,
  R_DATA: 3,
} as const;
export type SnackType = (typeof SnackType)[keyof typeof SnackType];

/** AHS types (RFC 7143 §11.2.2.1). */
export const AhsType = {
  EXTENDED_CDB: 1,
  BIDI_READ_DATA_LENGTH: 2,
} as const;
export type AhsType = (typeof AhsType)[keyof typeof AhsType];

function reverse<T extends Record<string, number>>(o: T): ReadonlyMap<number, keyof T & string> {
  const m = new Map<number, keyof T & string>();
  for (const [k, v] of Object.entries(o)) if (!m.has(v)) m.set(v, k as keyof T & string);
  return m;
}

const OP_NAMES = reverse(IscsiOp);
const LOGIN_STATUS_NAMES = reverse(LoginStatus);
const REJECT_NAMES = reverse(RejectReason);
const TMF_FUNCTION_NAMES = reverse(TmfFunctionCode);
const TMF_RESPONSE_NAMES = reverse(TmfResponse);
const LOGOUT_REASON_NAMES = reverse(LogoutReason);
const LOGOUT_RESPONSE_NAMES = reverse(LogoutResponseCode);
const ASYNC_EVENT_NAMES = reverse(AsyncEvent);

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** Names for logs; unknown values come back as hex. */
export const opcodeName = (op: number): string => OP_NAMES.get(op) ?? `UNKNOWN_OP_${hex(op)}`;
export const loginStatusName = (s: number): string => LOGIN_STATUS_NAMES.get(s) ?? `LOGIN_STATUS_${hex(s)}`;
export const rejectReasonName = (r: number): string => REJECT_NAMES.get(r) ?? `REJECT_${hex(r)}`;
export const tmfFunctionName = (f: number): string => TMF_FUNCTION_NAMES.get(f) ?? `TMF_${hex(f)}`;
export const tmfResponseName = (r: number): string => TMF_RESPONSE_NAMES.get(r) ?? `TMF_RESPONSE_${hex(r)}`;
export const logoutReasonName = (r: number): string => LOGOUT_REASON_NAMES.get(r) ?? `LOGOUT_REASON_${hex(r)}`;
export const logoutResponseName = (r: number): string =>
  LOGOUT_RESPONSE_NAMES.get(r) ?? `LOGOUT_RESPONSE_${hex(r)}`;
export const asyncEventName = (e: number): string => ASYNC_EVENT_NAMES.get(e) ?? `ASYNC_EVENT_${hex(e)}`;
