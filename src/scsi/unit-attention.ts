/**
 * Per-logical-unit unit attention conditions, one queue per I_T nexus
 * (SAM-5 "Unit attention conditions"; SPC-4 "Unit attention condition sense
 * data"). A nexus is "known" once it sent a command to the LU; conditions
 * raised for "all" nexuses reach the known ones, and a nexus seen for the
 * first time starts with POWER ON, RESET OR BUS DEVICE RESET OCCURRED.
 */
import type { SenseReason } from './sense.js';

/**
 * SPC-4 allows a device to drop conditions when the queue overflows; keep it bounded,
 * and below libiscsi's login limit (it retries TEST UNIT READY through at most 10 UAs).
 */
const MAX_PENDING = 8;

export class UnitAttentions {
  private readonly queues = new Map<string, SenseReason[]>();

  /** True when the nexus sent a command to this LU before (since its last loss). */
  isKnown(nexusKey: string): boolean {
    return this.queues.has(nexusKey);
  }

  /** First command from a nexus: SAM-5 power-on / reset condition (tgt does the same). */
  register(nexusKey: string): void {
    if (!this.queues.has(nexusKey)) this.queues.set(nexusKey, ['POWER_ON_RESET']);
  }

  /** Forgets a nexus (I_T nexus loss); it starts again with a power-on condition. */
  forget(nexusKey: string): void {
    this.queues.delete(nexusKey);
  }

  /** Establishes a condition for one nexus (deduplicated, bounded). */
  establish(nexusKey: string, reason: SenseReason): void {
    let q = this.queues.get(nexusKey);
    if (q === undefined) {
      // Unknown nexus: it will get POWER ON RESET first, which supersedes this one.
      q = ['POWER_ON_RESET'];
      this.queues.set(nexusKey, q);
      return;
    }
    if (q.includes(reason)) return;
    // A reset supersedes everything queued before it (SAM-5: the reset condition
    // is reported and the others cleared).
    if (reason === 'POWER_ON_RESET' || reason === 'BUS_DEVICE_RESET') q.length = 0;
    if (q.length >= MAX_PENDING) q.shift();
    q.push(reason);
  }

  /** Establishes a condition for every known nexus, except `exceptKey` when given. */
  establishAll(reason: SenseReason, exceptKey?: string): void {
    for (const key of this.queues.keys()) {
      if (key !== exceptKey) this.establish(key, reason);
    }
  }

  /** Oldest pending condition without clearing it. */
  peek(nexusKey: string): SenseReason | undefined {
    return this.queues.get(nexusKey)?.[0];
  }

  /** Reports and clears the oldest pending condition (one per command, SAM-5). */
  take(nexusKey: string): SenseReason | undefined {
    return this.queues.get(nexusKey)?.shift();
  }

  /** Clears one specific condition if pending (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED). */
  clear(nexusKey: string, reason: SenseReason): void {
    const q = this.queues.get(nexusKey);
    if (q === undefined) return;
    const i = q.indexOf(reason);
    if (i >= 0) q.splice(i, 1);
  }

  pending(nexusKey: string): readonly SenseReason[] {
    return this.queues.get(nexusKey) ?? [];
  }
}
