/**
 * Guessing protection for secret checks (REST API Basic auth, iSCSI CHAP): per-source back-off
 * with a cap, audit events under a log budget, bounded state.
 *
 * Two keys per attempt:
 *  - the pair (source address, identity) — identity is the initiator name or API user name.
 *    After `threshold` failures of the pair, its next check waits `baseDelayMs`, doubling per
 *    further failure up to `maxDelayMs`. A legitimate host behind the same address with another
 *    name is not slowed by an attacker that keeps one name.
 *  - the source address alone, counting the distinct identities that failed from it. An attacker
 *    that rotates names (every new name starts a fresh pair) is caught here: once
 *    `sourceThreshold` names have failed, every identity from that address that has not
 *    succeeded from it before is slowed by the same back-off. Identities that did succeed from
 *    the address (a host that logged in earlier) stay exempt, so an attack from a shared address
 *    does not lock out the hosts that already work.
 *
 * An attempt whose key is in back-off is either held (a timer, never a busy wait) until the
 * back-off ends and then checked, or refused without checking the secret: at most one attempt
 * per key is held (parallel connections gain nothing), at most `maxHeld` in all, and none longer
 * than `maxHoldMs`. A refused attempt is answered like a wrong secret, so a right guess during
 * the back-off teaches the attacker nothing.
 *
 * State is forgotten `forgetMs` after a key's last failure and is capped at `maxKeys` entries
 * (least recently used evicted first). The counters in `stats` are plain numbers for exporters.
 */

export interface AuthThrottleOptions {
  /** Failures of one (source, identity) pair before its checks are slowed; 0 turns the back-off off. */
  threshold: number;
  /** Distinct identities failing from one source before its not-yet-known identities are slowed. */
  sourceThreshold: number;
  /** First delay; doubles per failure past the threshold. */
  baseDelayMs: number;
  /** Cap of the delay. */
  maxDelayMs: number;
  /** A key's failures are forgotten this long after the last one. */
  forgetMs: number;
  /** Longest hold; an attempt whose back-off is longer is held this long, then refused unchecked. */
  maxHoldMs: number;
  /** Attempts held at once, all keys together. */
  maxHeld: number;
  /** Keys remembered (pairs, sources and known-good pairs together); the least recently used go first. */
  maxKeys: number;
  /** Audit events allowed per `auditWindowMs`; the rest are counted and reported with the next allowed one. */
  auditBudget: number;
  auditWindowMs: number;
  /** Clock (tests). */
  now?: () => number;
}

export const DEFAULT_AUTH_THROTTLE: Readonly<AuthThrottleOptions> = Object.freeze({
  threshold: 5,
  sourceThreshold: 8,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  forgetMs: 15 * 60_000,
  maxHoldMs: 5_000,
  maxHeld: 128,
  maxKeys: 10_000,
  auditBudget: 20,
  auditWindowMs: 60_000,
});

/** Counters, plain numbers (for a metrics exporter). */
export interface AuthThrottleStats {
  /** Secrets checked (attempts admitted at once or after a hold). */
  checked: number;
  failures: number;
  successes: number;
  /** Attempts held by the back-off (then checked, or refused when the back-off was longer than maxHoldMs). */
  held: number;
  /** Attempts refused without a check (after a hold, or at once when a hold of the key was pending). */
  refused: number;
  /** Attempts held right now. */
  heldNow: number;
  /** Keys evicted by the maxKeys cap. */
  evicted: number;
  /** Audit events not logged because of the log budget. */
  auditSuppressed: number;
  /** Failures by reason (e.g. "chap", "acl", "password"). */
  failuresByReason: Record<string, number>;
}

/** Every throttle's stats by name ("iscsi", "api"), for exporters. */
export const authThrottleStats: Record<string, AuthThrottleStats> = {};

export type Admission =
  | { kind: 'now' }
  /**
   * Wait `ms` (a timer), call `release()` (also when the attempt is abandoned), then, in the
   * same tick, check the secret when `check`, else refuse the attempt unchecked.
   */
  | { kind: 'hold'; ms: number; check: boolean; retryAfterMs: number; release: () => void }
  | { kind: 'refuse'; retryAfterMs: number };

export interface AuthAuditEvent {
  kind: 'failure' | 'held' | 'refused';
  source: string;
  identity: string;
  reason?: string;
  detail?: string;
  /** Failures of the pair within the window. */
  failures: number;
  /** Delay before the next check of this pair (failure) or of this attempt (held/refused). */
  delayMs: number;
  /** Audit events dropped by the budget since the last one delivered. */
  suppressed: number;
}

interface Entry {
  /** Failures (pair) or distinct failing identities (source). */
  count: number;
  last: number;
  blockedUntil: number;
  holding: boolean;
}

export class AuthThrottle {
  readonly stats: AuthThrottleStats = {
    checked: 0,
    failures: 0,
    successes: 0,
    held: 0,
    refused: 0,
    heldNow: 0,
    evicted: 0,
    auditSuppressed: 0,
    failuresByReason: {},
  };
  private readonly opts: AuthThrottleOptions;
  private readonly now: () => number;
  /** "p|source|identity" and "s|source": one LRU map. */
  private readonly entries = new Map<string, Entry>();
  /** "source|identity" pairs that succeeded, with the time of the last success (LRU, own cap: failures never evict them). */
  private readonly good = new Map<string, number>();
  private auditWindowStart = 0;
  private auditUsed = 0;
  private auditDropped = 0;

  constructor(
    name: string,
    opts: Partial<AuthThrottleOptions> = {},
    private readonly audit: (e: AuthAuditEvent) => void = () => undefined,
  ) {
    this.opts = { ...DEFAULT_AUTH_THROTTLE, ...opts };
    this.now = this.opts.now ?? Date.now;
    authThrottleStats[name] = this.stats;
  }

  get enabled(): boolean {
    return this.opts.threshold > 0;
  }

  /** Keys held in memory (tests, status). */
  get size(): number {
    return this.entries.size + this.good.size;
  }

  /**
   * Decides whether an attempt of `identity` from `source` is checked now, held then checked,
   * held then refused (a back-off longer than maxHoldMs: the attempt is answered after
   * maxHoldMs, unchecked), or refused at once (a hold of the same key already pending, or
   * maxHeld reached).
   */
  admit(source: string, identity: string): Admission {
    if (!this.enabled) {
      this.stats.checked++;
      return { kind: 'now' };
    }
    const t = this.now();
    const pair = this.get(`p|${source}|${identity}`, t);
    const src = this.sourceApplies(source, identity, t) ? this.get(`s|${source}`, t) : undefined;
    const until = Math.max(pair?.blockedUntil ?? 0, src?.blockedUntil ?? 0);
    if (until <= t) {
      this.stats.checked++;
      return { kind: 'now' };
    }
    const wait = until - t;
    if (pair?.holding === true || src?.holding === true || this.stats.heldNow >= this.opts.maxHeld) {
      this.stats.refused++;
      this.emit({ kind: 'refused', source, identity, failures: pair?.count ?? 0, delayMs: wait });
      return { kind: 'refuse', retryAfterMs: wait };
    }
    const check = wait <= this.opts.maxHoldMs;
    // Holding slots live on the entries that imposed the wait (the pair's is created when missing).
    const slots = [pair ?? this.touch(`p|${source}|${identity}`, t), ...(src !== undefined ? [src] : [])];
    for (const e of slots) e.holding = true;
    this.stats.held++;
    this.stats.heldNow++;
    this.emit({ kind: 'held', source, identity, failures: pair?.count ?? 0, delayMs: wait });
    let released = false;
    return {
      kind: 'hold',
      ms: check ? wait : this.opts.maxHoldMs,
      check,
      retryAfterMs: wait,
      release: () => {
        if (released) return;
        released = true;
        for (const e of slots) e.holding = false;
        this.stats.heldNow--;
        if (check) this.stats.checked++;
        else this.stats.refused++;
      },
    };
  }

  /** A checked attempt failed; `reason` is a category ("chap", "password"), `detail` free text (never a secret). */
  failure(source: string, identity: string, reason: string, detail?: string): void {
    this.stats.failures++;
    this.stats.failuresByReason[reason] = (this.stats.failuresByReason[reason] ?? 0) + 1;
    const t = this.now();
    const pair = this.touch(`p|${source}|${identity}`, t);
    const src = this.touch(`s|${source}`, t);
    if (pair.count === 0) src.count++;
    pair.count++;
    pair.last = t;
    src.last = t;
    const pairDelay = this.delayFor(pair.count, this.opts.threshold);
    pair.blockedUntil = t + pairDelay;
    src.blockedUntil = t + this.delayFor(src.count, this.opts.sourceThreshold);
    this.emit({ kind: 'failure', source, identity, reason, ...(detail !== undefined ? { detail } : {}), failures: pair.count, delayMs: pairDelay });
  }

  /** A checked attempt succeeded: the pair's failures are cleared and the pair is known good. */
  success(source: string, identity: string): void {
    this.stats.successes++;
    if (!this.enabled) return;
    const t = this.now();
    const pair = this.entries.get(`p|${source}|${identity}`);
    if (pair !== undefined && !pair.holding) this.entries.delete(`p|${source}|${identity}`);
    else if (pair !== undefined) {
      pair.count = 0;
      pair.blockedUntil = 0;
    }
    const key = `${source}|${identity}`;
    this.good.delete(key);
    this.good.set(key, t);
    if (this.good.size > this.opts.maxKeys) {
      const oldest = this.good.keys().next();
      if (oldest.done !== true) this.good.delete(oldest.value);
    }
  }

  private delayFor(count: number, threshold: number): number {
    if (threshold <= 0 || count < threshold) return 0;
    const steps = Math.min(count - threshold, 30);
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** steps);
  }

  /** Source back-off applies to identities that have not succeeded from that source before. */
  private sourceApplies(source: string, identity: string, t: number): boolean {
    const key = `${source}|${identity}`;
    const at = this.good.get(key);
    if (at === undefined) return true;
    // refresh recency: a host that keeps logging in stays known
    this.good.delete(key);
    this.good.set(key, Math.max(at, t));
    return false;
  }

  /** The live entry of `key` (expired ones are dropped), without creating it. */
  private get(key: string, t: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (!e.holding && t - e.last > this.opts.forgetMs && e.blockedUntil <= t) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** The entry of `key`, created when missing, moved to the most recently used end. */
  private touch(key: string, t: number): Entry {
    let e = this.get(key, t);
    if (e === undefined) e = { count: 0, last: t, blockedUntil: 0, holding: false };
    else this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.opts.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      this.stats.evicted++;
    }
    return e;
  }

  private emit(e: Omit<AuthAuditEvent, 'suppressed'>): void {
    const t = this.now();
    if (t - this.auditWindowStart >= this.opts.auditWindowMs) {
      this.auditWindowStart = t;
      this.auditUsed = 0;
    }
    if (this.auditUsed >= this.opts.auditBudget) {
      this.auditDropped++;
      this.stats.auditSuppressed++;
      return;
    }
    this.auditUsed++;
    const suppressed = this.auditDropped;
    this.auditDropped = 0;
    this.audit({ ...e, suppressed });
  }
}
