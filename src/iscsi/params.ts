/**
 * Operational text keys as a declarative table (tgt usr/iscsi/param.c
 * session_keys with min/max/or/and functions, plus LIO's scope/sender/phase
 * flags) and the negotiator that answers an initiator's proposals within the
 * target's limits. RFC 7143 §6.2 "Text Mode Negotiation", §13 "Login/Text
 * Operational Text Keys".
 */
import type { TargetLimits } from './registry.js';
import { TextAnswer } from './text.js';

export type SessionType = 'Normal' | 'Discovery';

/** Negotiated values of one session/connection (RFC 7143 names in camelCase). */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  /** What we accept per PDU (our declaration). */
  targetMaxRecvDataSegmentLength: number;
  /** What the initiator accepts per PDU (its declaration, default 8192), capped by MaxXmitDataSegmentLength. */
  initiatorMaxRecvDataSegmentLength: number;
  initiatorAlias: string;
}

type KeyFunction =
  | 'list' // first offered value we support
  | 'min'
  | 'max'
  | 'or'
  | 'and'
  | 'declarative'
  | 'irrelevant'; // obsolete keys (marker intervals)

interface KeyDef {
  readonly key: string;
  readonly fn: KeyFunction;
  readonly scope: 'session' | 'connection';
  readonly sender: 'initiator' | 'target' | 'both';
  /** Irrelevant in a discovery session (RFC 7143 §13: "Irrelevant when: SessionType=Discovery"). */
  readonly normalOnly: boolean;
  readonly min?: number;
  readonly max?: number;
  /** Values we support, for list keys (our order of preference is the initiator's). */
  readonly values?: readonly string[];
  /** RFC default. */
  readonly defaultValue: string;
}

const K = 1024;

// RFC 7143 §13 (key definitions); ranges from the "numerical-value" ranges there.
export const KEY_TABLE: readonly KeyDef[] = [
  { key: 'HeaderDigest', fn: 'list', scope: 'connection', sender: 'both', normalOnly: false, values: ['CRC32C', 'None'], defaultValue: 'None' },
  { key: 'DataDigest', fn: 'list', scope: 'connection', sender: 'both', normalOnly: false, values: ['CRC32C', 'None'], defaultValue: 'None' },
  { key: 'MaxConnections', fn: 'min', scope: 'session', sender: 'both', normalOnly: true, min: 1, max: 65535, defaultValue: '1' },
  { key: 'InitialR2T', fn: 'or', scope: 'session', sender: 'both', normalOnly: true, defaultValue: 'Yes' },
  { key: 'ImmediateData', fn: 'and', scope: 'session', sender: 'both', normalOnly: true, defaultValue: 'Yes' },
  { key: 'MaxRecvDataSegmentLength', fn: 'declarative', scope: 'connection', sender: 'both', normalOnly: false, min: 512, max: 16777215, defaultValue: '8192' },
  { key: 'MaxBurstLength', fn: 'min', scope: 'session', sender: 'both', normalOnly: true, min: 512, max: 16777215, defaultValue: String(256 * K) },
  { key: 'FirstBurstLength', fn: 'min', scope: 'session', sender: 'both', normalOnly: true, min: 512, max: 16777215, defaultValue: String(64 * K) },
  { key: 'DefaultTime2Wait', fn: 'max', scope: 'session', sender: 'both', normalOnly: false, min: 0, max: 3600, defaultValue: '2' },
  { key: 'DefaultTime2Retain', fn: 'min', scope: 'session', sender: 'both', normalOnly: false, min: 0, max: 3600, defaultValue: '20' },
  { key: 'MaxOutstandingR2T', fn: 'min', scope: 'session', sender: 'both', normalOnly: true, min: 1, max: 65535, defaultValue: '1' },
  { key: 'DataPDUInOrder', fn: 'or', scope: 'session', sender: 'both', normalOnly: true, defaultValue: 'Yes' },
  { key: 'DataSequenceInOrder', fn: 'or', scope: 'session', sender: 'both', normalOnly: true, defaultValue: 'Yes' },
  { key: 'ErrorRecoveryLevel', fn: 'min', scope: 'session', sender: 'both', normalOnly: false, min: 0, max: 2, defaultValue: '0' },
  // RFC 7143 §13.25/§13.26 / Appendix: markers are obsolete; "No" is the only answer we give.
  { key: 'OFMarker', fn: 'and', scope: 'connection', sender: 'both', normalOnly: false, defaultValue: 'No' },
  { key: 'IFMarker', fn: 'and', scope: 'connection', sender: 'both', normalOnly: false, defaultValue: 'No' },
  { key: 'OFMarkInt', fn: 'irrelevant', scope: 'connection', sender: 'both', normalOnly: false, defaultValue: '2048' },
  { key: 'IFMarkInt', fn: 'irrelevant', scope: 'connection', sender: 'both', normalOnly: false, defaultValue: '2048' },
  // RFC 7143 §13.23 TaskReporting: we implement the RFC3720 semantics only.
  { key: 'TaskReporting', fn: 'list', scope: 'session', sender: 'both', normalOnly: false, values: ['RFC3720'], defaultValue: 'RFC3720' },
  // RFC 7144 §2.1 iSCSIProtocolLevel: 1 = RFC 7143; answer the lower of the two.
  { key: 'iSCSIProtocolLevel', fn: 'min', scope: 'session', sender: 'both', normalOnly: false, min: 0, max: 31, defaultValue: '0' },
  { key: 'InitiatorAlias', fn: 'declarative', scope: 'session', sender: 'initiator', normalOnly: false, defaultValue: '' },
  { key: 'TargetAlias', fn: 'declarative', scope: 'session', sender: 'target', normalOnly: false, defaultValue: '' },
  { key: 'TargetAddress', fn: 'declarative', scope: 'session', sender: 'target', normalOnly: false, defaultValue: '' },
  { key: 'TargetPortalGroupTag', fn: 'declarative', scope: 'session', sender: 'target', normalOnly: false, defaultValue: '' },
];

const KEY_INDEX: ReadonlyMap<string, KeyDef> = new Map(KEY_TABLE.map((d) => [d.key, d]));

/** Keys login.ts owns (leading/security keys); the negotiator does not answer them. */
export const LOGIN_KEYS: ReadonlySet<string> = new Set([
  'InitiatorName',
  'TargetName',
  'SessionType',
  'AuthMethod',
  'CHAP_A',
  'CHAP_I',
  'CHAP_C',
  'CHAP_N',
  'CHAP_R',
  'SendTargets',
]);

export function isOperationalKey(key: string): boolean {
  return KEY_INDEX.has(key);
}

/** RFC 7143 §6.1 numerical-value: decimal, or hex with 0x (also binary 0b is not for numbers). */
export function parseNumber(value: string): number | null {
  if (/^[0-9]{1,10}$/.test(value)) return Number.parseInt(value, 10);
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(value)) return Number.parseInt(value.slice(2), 16);
  return null;
}

function parseBool(value: string): boolean | null {
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  return null;
}

const boolStr = (b: boolean): string => (b ? 'Yes' : 'No');

export type NegotiationOutcome =
  | { kind: 'answer'; answer: string | null } // null: declarative, nothing to say
  | { kind: 'error'; message: string }; // protocol error (login 0x0200 / Reject)

/**
 * One login's operational negotiation. Call negotiate() for each operational
 * key the initiator sends, offers() when the initiator wants to leave the
 * operational stage, result() at the end.
 */
export class ParamNegotiator {
  private readonly values = new Map<string, string>();
  private readonly proposed = new Set<string>();
  private readonly offered = new Map<string, string>();
  private declarationsSent = false;

  constructor(
    private readonly sessionType: SessionType,
    private readonly limits: TargetLimits,
  ) {
    for (const d of KEY_TABLE) this.values.set(d.key, d.defaultValue);
  }

  /** Our own value for a key (what we would accept at best). */
  private ours(key: string): string {
    const l = this.limits;
    switch (key) {
      case 'MaxConnections':
        return '1';
      case 'InitialR2T':
        return boolStr(l.initialR2T);
      case 'ImmediateData':
        return boolStr(l.immediateData);
      case 'MaxBurstLength':
        return String(l.maxBurstLength);
      case 'FirstBurstLength':
        return String(Math.min(l.firstBurstLength, l.maxBurstLength));
      case 'DefaultTime2Wait':
        return '2';
      case 'DefaultTime2Retain':
        return '0'; // ERL 0: no connection recovery, nothing to retain
      case 'MaxOutstandingR2T':
        return String(l.maxOutstandingR2T);
      case 'DataPDUInOrder':
      case 'DataSequenceInOrder':
        return 'Yes'; // we only accept in-order data (the OR function makes the result Yes)
      case 'ErrorRecoveryLevel':
        return '0';
      case 'OFMarker':
      case 'IFMarker':
        return 'No';
      case 'iSCSIProtocolLevel':
        return '1';
      default:
        return KEY_INDEX.get(key)?.defaultValue ?? '';
    }
  }

  /** Answer one operational key from the initiator. */
  negotiate(key: string, value: string): NegotiationOutcome {
    const def = KEY_INDEX.get(key);
    if (def === undefined) return { kind: 'answer', answer: TextAnswer.NOT_UNDERSTOOD };
    if (def.sender === 'target') {
      // RFC 7143 §13: "Senders: Target" — an initiator declaring it is a protocol error.
      return { kind: 'error', message: `initiator sent target-only key ${key}` };
    }
    // Our answer to a target offer: the initiator's value is the result (RFC 7143 §6.2).
    const offer = this.offered.get(key);
    if (offer !== undefined) {
      this.offered.delete(key);
      this.proposed.add(key);
      return this.acceptOfferReply(def, offer, value);
    }
    if (this.proposed.has(key)) {
      // RFC 7143 §6.1: renegotiation of a key in the same login is a protocol error.
      return { kind: 'error', message: `key ${key} negotiated twice` };
    }
    this.proposed.add(key);
    if (def.normalOnly && this.sessionType === 'Discovery') return { kind: 'answer', answer: TextAnswer.IRRELEVANT };
    const out = this.answer(def, key, value);
    // After a Reject the key keeps its default; leave it open so offers() can still
    // propose the value our limits need.
    if (out.kind === 'answer' && out.answer === TextAnswer.REJECT) this.proposed.delete(key);
    return out;
  }

  private answer(def: KeyDef, key: string, value: string): NegotiationOutcome {
    const ours = this.ours(key);
    switch (def.fn) {
      case 'irrelevant':
        return { kind: 'answer', answer: TextAnswer.IRRELEVANT };
      case 'declarative': {
        if (key === 'MaxRecvDataSegmentLength') {
          const n = parseNumber(value);
          if (n === null || n < (def.min ?? 0) || n > (def.max ?? Infinity)) return { kind: 'answer', answer: TextAnswer.REJECT };
          this.values.set(key, String(n));
        } else this.values.set(key, value);
        return { kind: 'answer', answer: null };
      }
      case 'list': {
        const offeredList = value.split(',');
        const supported = def.values ?? [];
        const pick = offeredList.find((v) => supported.includes(v));
        if (pick === undefined) return { kind: 'answer', answer: TextAnswer.REJECT };
        this.values.set(key, pick);
        return { kind: 'answer', answer: pick };
      }
      case 'min':
      case 'max': {
        const n = parseNumber(value);
        if (n === null || n < (def.min ?? 0) || n > (def.max ?? Infinity)) return { kind: 'answer', answer: TextAnswer.REJECT };
        let mine = Number(ours);
        if (key === 'FirstBurstLength') {
          // RFC 7143 §13.14: "FirstBurstLength MUST NOT exceed MaxBurstLength."
          mine = Math.min(mine, Number(this.values.get('MaxBurstLength')));
        }
        const r = def.fn === 'min' ? Math.min(n, mine) : Math.max(n, mine);
        this.values.set(key, String(r));
        return { kind: 'answer', answer: String(r) };
      }
      case 'or':
      case 'and': {
        const b = parseBool(value);
        if (b === null) return { kind: 'answer', answer: TextAnswer.REJECT };
        const mine = ours === 'Yes';
        const r = def.fn === 'or' ? b || mine : b && mine;
        this.values.set(key, boolStr(r));
        return { kind: 'answer', answer: boolStr(r) };
      }
    }
  }

  private acceptOfferReply(def: KeyDef, offer: string, value: string): NegotiationOutcome {
    if (value === TextAnswer.REJECT || value === TextAnswer.NOT_UNDERSTOOD || value === TextAnswer.IRRELEVANT) {
      return { kind: 'error', message: `initiator refused our ${def.key}=${offer}` };
    }
    let ok = false;
    if (def.fn === 'min') {
      const n = parseNumber(value);
      ok = n !== null && n <= Number(offer) && n >= (def.min ?? 0);
    } else if (def.fn === 'and' || def.fn === 'or') {
      ok = value === offer || (def.fn === 'and' && value === 'No') || (def.fn === 'or' && value === 'Yes');
    } else ok = value === offer;
    if (!ok) return { kind: 'error', message: `bad answer ${def.key}=${value} to our offer ${offer}` };
    this.values.set(def.key, value);
    return { kind: 'answer', answer: null };
  }

  /**
   * Keys the target must propose itself because the RFC default would exceed
   * its limits and the initiator did not propose them (RFC 7143 §6.2: either
   * side may originate). While this returns keys, the target must not transit.
   */
  offers(): Array<[string, string]> {
    if (this.sessionType === 'Discovery') return [];
    const out: Array<[string, string]> = [];
    const want = (key: string, v: string): void => {
      if (this.proposed.has(key) || this.offered.has(key)) return;
      this.offered.set(key, v);
      out.push([key, v]);
    };
    const mbl = Math.min(this.limits.maxBurstLength, 16777215);
    if (mbl < Number(this.values.get('MaxBurstLength'))) want('MaxBurstLength', String(mbl));
    const fbl = Math.min(this.limits.firstBurstLength, mbl);
    if (fbl < Number(this.values.get('FirstBurstLength'))) want('FirstBurstLength', String(fbl));
    if (!this.limits.immediateData && this.values.get('ImmediateData') === 'Yes') want('ImmediateData', 'No');
    if (this.limits.maxOutstandingR2T < Number(this.values.get('MaxOutstandingR2T'))) {
      want('MaxOutstandingR2T', String(this.limits.maxOutstandingR2T));
    }
    return out;
  }

  /** True while offers() returned keys the initiator has not answered. */
  get awaitingOfferReplies(): boolean {
    return this.offered.size > 0;
  }

  /**
   * Our declarative keys (sent once): MaxRecvDataSegmentLength (RFC 7143
   * §13.12: each side declares its own), TargetAlias when set.
   */
  declarations(targetAlias: string): Array<[string, string]> {
    if (this.declarationsSent) return [];
    this.declarationsSent = true;
    const out: Array<[string, string]> = [['MaxRecvDataSegmentLength', String(this.targetMrdsl())]];
    if (targetAlias !== '' && this.sessionType === 'Normal') out.push(['TargetAlias', targetAlias]);
    return out;
  }

  private targetMrdsl(): number {
    return Math.max(512, Math.min(this.limits.maxRecvDataSegmentLength, 16777215));
  }

  wasProposed(key: string): boolean {
    return this.proposed.has(key);
  }

  result(): SessionParams {
    const v = (k: string): string => this.values.get(k) ?? KEY_INDEX.get(k)?.defaultValue ?? '';
    const num = (k: string): number => Number(v(k));
    const maxBurstLength = num('MaxBurstLength');
    return {
      headerDigest: v('HeaderDigest') === 'CRC32C',
      dataDigest: v('DataDigest') === 'CRC32C',
      maxConnections: num('MaxConnections'),
      initialR2T: v('InitialR2T') === 'Yes',
      immediateData: v('ImmediateData') === 'Yes',
      maxBurstLength,
      firstBurstLength: Math.min(num('FirstBurstLength'), maxBurstLength),
      defaultTime2Wait: num('DefaultTime2Wait'),
      defaultTime2Retain: num('DefaultTime2Retain'),
      maxOutstandingR2T: num('MaxOutstandingR2T'),
      dataPDUInOrder: v('DataPDUInOrder') === 'Yes',
      dataSequenceInOrder: v('DataSequenceInOrder') === 'Yes',
      errorRecoveryLevel: num('ErrorRecoveryLevel'),
      targetMaxRecvDataSegmentLength: this.declarationsSent ? this.targetMrdsl() : 8192,
      initiatorMaxRecvDataSegmentLength: Math.max(
        512,
        Math.min(num('MaxRecvDataSegmentLength'), this.limits.maxXmitDataSegmentLength || 16777215),
      ),
      initiatorAlias: v('InitiatorAlias'),
    };
  }
}
