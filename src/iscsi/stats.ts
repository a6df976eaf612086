/**
 * Counters of the iSCSI layer (logins, rejected PDUs, digest and framing errors, task
 * management), plain numbers an IscsiServer owns and its connections bump. The metrics
 * layer turns them into series at scrape time; nothing here knows about Prometheus.
 */
import { LoginStatus, RejectReason, TmfFunctionCode } from './constants.js';

/** Why a login failed, as the metrics label it. */
export type LoginFailureReason = 'chap' | 'acl' | 'not_found' | 'initiator_error' | 'target_error';

/** The label of a failed login's status (RFC 7143 §11.13.5). */
export function loginFailureReason(status: number): LoginFailureReason {
  if (status === LoginStatus.AUTHENTICATION_FAILED) return 'chap';
  if (status === LoginStatus.AUTHORIZATION_FAILURE) return 'acl';
  if (status === LoginStatus.NOT_FOUND || status === LoginStatus.TARGET_REMOVED) return 'not_found';
  if (status >>> 8 === 0x03) return 'target_error';
  return 'initiator_error';
}

export const LOGIN_FAILURE_REASONS: readonly LoginFailureReason[] = ['chap', 'acl', 'not_found', 'initiator_error', 'target_error'];

/** Reject reason names by code (RFC 7143 §11.17.1), lower case for labels. */
export const REJECT_REASON_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(RejectReason).map(([k, v]) => [v, k.toLowerCase()]));
/** Task management function names by code (RFC 7143 §11.5.1), lower case for labels. */
export const TMF_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(TmfFunctionCode).map(([k, v]) => [v, k.toLowerCase()]));

export class IscsiStats {
  /** Normal and discovery logins that reached the full feature phase. */
  loginSuccesses = 0;
  readonly loginFailures = new Map<LoginFailureReason, number>();
  /** Reject PDUs sent, by reason code. */
  readonly rejects = new Float64Array(256);
  headerDigestErrors = 0;
  dataDigestErrors = 0;
  /** Connections closed for a framing error other than a header digest (length, opcode, reserved fields). */
  framingErrors = 0;
  /** Task management requests, by function code. */
  readonly tmf = new Float64Array(256);

  countReject(reason: number): void {
    const i = reason & 0xff;
    this.rejects[i] = (this.rejects[i] ?? 0) + 1;
  }

  countTmf(fn: number): void {
    const i = fn & 0xff;
    this.tmf[i] = (this.tmf[i] ?? 0) + 1;
  }

  loginFailed(status: number): void {
    const r = loginFailureReason(status);
    this.loginFailures.set(r, (this.loginFailures.get(r) ?? 0) + 1);
  }
}
