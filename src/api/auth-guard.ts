/**
 * Guessing protection of the API's Basic auth (util/auth-throttle.ts): a client (address +
 * user name) whose passwords keep failing has its next checks held by a back-off, or refused
 * with 429 and Retry-After without a check. Failures are audited at warn level (address, user,
 * reason; never the password) under a log budget.
 */
import { AuthThrottle, type AuthAuditEvent, type AuthThrottleOptions } from '../util/auth-throttle.js';
import type { Logger } from '../util/log.js';
import { ApiError } from './errors.js';

const MESSAGES: Readonly<Record<AuthAuditEvent['kind'], string>> = {
  failure: 'API authentication failed',
  held: 'API authentication held by the guessing back-off',
  refused: 'API authentication refused by the guessing back-off',
};

/** 429 with the seconds to wait (the error handler sends Retry-After). */
export class ThrottledError extends ApiError {
  constructor(readonly retryAfterS: number, ip: string) {
    super(429, `too many failed logins from ${ip}: retry in ${retryAfterS} s`);
  }
}

export class ApiAuthGuard {
  readonly throttle: AuthThrottle;

  constructor(opts: Partial<AuthThrottleOptions>, log: Logger) {
    this.throttle = new AuthThrottle('api', opts, (e) =>
      log.warn(
        {
          event: `auth-${e.kind}`,
          ip: e.source,
          user: e.identity,
          ...(e.reason !== undefined ? { reason: e.reason } : {}),
          failures: e.failures,
          delayMs: e.delayMs,
          ...(e.suppressed > 0 ? { suppressed: e.suppressed } : {}),
        },
        MESSAGES[e.kind],
      ),
    );
  }

  /**
   * Runs `matches` (the constant-time compare) for `user` from `ip` once the back-off allows;
   * throws ApiError(401) when it returns false, ThrottledError (429) when refused unchecked.
   */
  async verify(ip: string, user: string, matches: () => boolean): Promise<void> {
    const a = this.throttle.admit(ip, user);
    if (a.kind === 'refuse') throw new ThrottledError(Math.max(1, Math.ceil(a.retryAfterMs / 1000)), ip);
    if (a.kind === 'hold') {
      await new Promise<void>((resolve) => setTimeout(resolve, a.ms));
      a.release();
      if (!a.check) throw new ThrottledError(Math.max(1, Math.ceil((a.retryAfterMs - a.ms) / 1000)), ip);
    }
    if (!matches()) {
      this.throttle.failure(ip, user, 'password');
      throw new ApiError(401, 'username/password mismatch with the configuration file');
    }
    this.throttle.success(ip, user);
  }
}
