/**
 * Resets across gateways. SAM-5 makes a LOGICAL UNIT RESET or TARGET RESET visible on every
 * I_T nexus of the logical unit, the nexuses through the other gateways included: they get
 * BUS DEVICE RESET FUNCTION OCCURRED before the initiator sees the TMF response (libiscsi's
 * MultipathIO.Reset sends TEST UNIT READY through the other path right after it).
 *
 * The events ride on the member records of the board (board.ts), so both boards carry them:
 * the sender appends the event to its record; each peer applies the events of that sender it
 * has not applied yet, then acknowledges by publishing `seen` (sender -> last event applied,
 * per incarnation); the sender answers the TMF once every live peer acknowledged, or after a
 * bound (a frozen peer is fenced by its own lease anyway).
 */
import type { ResetReason } from '../../scsi/logical-unit.js';
import type { MemberRecord, ResetEvent, SeenMark } from './board.js';

/** Events kept in a record: more than a burst of resets between two reads of a peer. */
const KEEP = 32;

export class ResetRelay {
  #seq = 0;
  readonly #events: ResetEvent[] = [];
  /** Sender gateway -> the last of its events applied here. */
  readonly #seen = new Map<string, SeenMark>();
  readonly #apply: (e: ResetEvent, from: string) => void;

  constructor(apply: (e: ResetEvent, from: string) => void) {
    this.#apply = apply;
  }

  /** Records a reset done here; its seq, for acked(). */
  announce(disk: string, reason: ResetReason): number {
    const e: ResetEvent = { seq: ++this.#seq, disk, reason };
    this.#events.push(e);
    if (this.#events.length > KEEP) this.#events.shift();
    return e.seq;
  }

  /** The record fields this relay owns. */
  fields(): Pick<MemberRecord, 'resets' | 'seen'> {
    return { resets: [...this.#events], seen: Object.fromEntries(this.#seen) };
  }

  /**
   * Applies the events of a peer's record not applied yet; true when `seen` moved (publish it).
   * The first record of a gateway never seen before is history: its earlier resets predate
   * the nexuses here. A new incarnation of a known gateway starts from its first event.
   */
  observe(r: MemberRecord): boolean {
    const events = r.resets ?? [];
    const top = events.reduce((m, e) => Math.max(m, e.seq), 0);
    const last = this.#seen.get(r.gateway);
    if (last === undefined) {
      this.#seen.set(r.gateway, { incarnation: r.incarnation, seq: top });
      return top > 0;
    }
    const from = last.incarnation === r.incarnation ? last.seq : 0;
    if (top <= from && last.incarnation === r.incarnation) return false;
    for (const e of events) if (e.seq > from) this.#apply(e, r.gateway);
    this.#seen.set(r.gateway, { incarnation: r.incarnation, seq: Math.max(top, from) });
    return true;
  }

  /** The peer's record shows event `seq` of `gateway`'s `incarnation` applied. */
  static acked(peer: MemberRecord, gateway: string, incarnation: string, seq: number): boolean {
    const mark = peer.seen?.[gateway];
    return mark !== undefined && mark.incarnation === incarnation && mark.seq >= seq;
  }
}
