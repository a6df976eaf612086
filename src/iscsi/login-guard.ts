/**
 * Guessing protection of iSCSI logins (util/auth-throttle.ts applied to the login phase):
 * a Login Request that carries CHAP_R is checked at once, after the back-off of its initiator
 * (source address + InitiatorName), or refused with AUTHENTICATION_FAILED without a check.
 * Failed logins (CHAP 0x0201, ACL 0x0202) are recorded and audited at warn level under a log
 * budget; a login completed with CHAP marks the initiator as known good for its address.
 */
import { AuthThrottle, type AuthAuditEvent, type AuthThrottleOptions } from '../util/auth-throttle.js';
import { LoginStatus } from './constants.js';
import type { TextPair } from './text.js';

/** The pino subset the guard logs with. */
interface AuditLogger {
  warn(obj: object, msg?: string): void;
}

export type LoginGate = { kind: 'now' } | { kind: 'refuse' } | { kind: 'held'; cancel: () => void };

export class LoginGuard {
  readonly throttle: AuthThrottle;

  constructor(opts: Partial<AuthThrottleOptions>, log: AuditLogger) {
    this.throttle = new AuthThrottle('iscsi', opts, (e) => log.warn(auditFields(e), auditMessage(e)));
  }

  /**
   * Gates one complete login request. 'now': answer it at once. 'held': `proceed(true)` (check)
   * or `proceed(false)` (refuse unchecked) runs after the back-off unless `cancel()` is called
   * first (connection gone). 'refuse': answer AUTHENTICATION_FAILED without a check.
   */
  gate(remote: string, initiator: string, pairs: readonly TextPair[], proceed: (check: boolean) => void): LoginGate {
    if (!pairs.some((p) => p.key === 'CHAP_R')) return { kind: 'now' };
    const a = this.throttle.admit(remote, initiator);
    if (a.kind === 'now') return a;
    if (a.kind === 'refuse') return a;
    const timer = setTimeout(() => {
      a.release();
      proceed(a.check);
    }, a.ms);
    return {
      kind: 'held',
      cancel: () => {
        clearTimeout(timer);
        a.release();
      },
    };
  }

  /**
   * Records the answer to a login request; true when the guard audited it (the caller then
   * skips its own per-failure log line, which an attacker could use to flood the log).
   */
  record(remote: string, initiator: string, status: number, reason: string | undefined, chapCompleted: boolean): boolean {
    if (status === LoginStatus.AUTHENTICATION_FAILED) {
      this.throttle.failure(remote, initiator, 'chap', reason);
      return true;
    }
    if (status === LoginStatus.AUTHORIZATION_FAILURE) {
      this.throttle.failure(remote, initiator, 'acl', reason);
      return true;
    }
    if (chapCompleted) this.throttle.success(remote, initiator);
    return false;
  }
}

function auditFields(e: AuthAuditEvent): object {
  return {
    event: `login-${e.kind}`,
    remote: e.source,
    initiator: e.identity,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
    failures: e.failures,
    delayMs: e.delayMs,
    ...(e.suppressed > 0 ? { suppressed: e.suppressed } : {}),
  };
}

function auditMessage(e: AuthAuditEvent): string {
  switch (e.kind) {
    case 'failure':
      return 'iSCSI login failed';
    case 'held':
      return 'iSCSI login held by the guessing back-off';
    case 'refused':
      return 'iSCSI login refused by the guessing back-off';
  }
}
