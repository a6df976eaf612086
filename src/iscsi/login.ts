/**
 * Login phase state machine (RFC 7143 §6.3 "Login Phase", §11.12/§11.13):
 * stages by CSG/NSG (SecurityNegotiation 0 → LoginOperationalNegotiation 1 →
 * FullFeaturePhase 3), AuthMethod None/CHAP per the target's access rules,
 * operational key negotiation, status class/detail of the answer. Pure
 * decisions: no sockets, no PDUs; connection.ts encodes the answers.
 */
import type { TextPair } from './text.js';
import { TextAnswer } from './text.js';
import { ParamNegotiator, LOGIN_KEYS, isOperationalKey, type SessionParams, type SessionType } from './params.js';
import { ChapAuthenticator } from './chap.js';
import type { ChapPolicy, IscsiTargetNode, IscsiTargetRegistry, TargetLimits } from './registry.js';
import { DEFAULT_TARGET_LIMITS } from './registry.js';

// CSG/NSG values and login status codes: one table, in constants.ts.
export { LoginStage, LoginStatus } from './constants.js';
import { LoginStage, LoginStatus } from './constants.js';

/** The fields of a Login Request the state machine decides on (RFC 7143 §11.12). */
export interface LoginRequestFields {
  readonly transit: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** 6 bytes. */
  readonly isid: Buffer;
  readonly tsih: number;
  readonly cid: number;
}

/** What to send back in the Login Response. */
export interface LoginAnswer {
  status: number;
  transit: boolean;
  csg: number;
  nsg: number;
  pairs: Array<[string, string]>;
  /** Set when the login completed (status SUCCESS, transit to FFP). */
  complete?: LoginOutcome;
  /** Human readable reason for a failure (logged, never sent). */
  reason?: string;
}

export interface LoginOutcome {
  sessionType: SessionType;
  initiatorName: string;
  initiatorAlias: string;
  /** Normal sessions only. */
  target: IscsiTargetNode | null;
  targetName: string;
  tpgt: number;
  params: SessionParams;
  limits: TargetLimits;
  authMethod: 'CHAP' | 'None';
  mutual: boolean;
  isid: Buffer;
}

export interface LoginContext {
  readonly registry: IscsiTargetRegistry;
  readonly localAddress: string;
  readonly localPort: number;
  /** TSIH != 0 on the leading login: does that session exist? (MC/S is not supported: MaxConnections=1.) */
  sessionExists(tsih: number): boolean;
}

/**
 * One connection's login. handle() takes each complete (C bit resolved)
 * request's header fields and text; it never throws.
 */
export class LoginMachine {
  private stage: number = -1;
  private sessionType: SessionType = 'Normal';
  private initiatorName = '';
  private initiatorAlias = '';
  private target: IscsiTargetNode | null = null;
  private targetName = '';
  private tpgt = 0;
  private chapPolicy: ChapPolicy | null = null;
  private chap: ChapAuthenticator | null = null;
  private authMethod: 'CHAP' | 'None' | null = null;
  private authenticated = false;
  private mutual = false;
  private negotiator: ParamNegotiator | null = null;
  private limits: TargetLimits = DEFAULT_TARGET_LIMITS;
  private isid: Buffer = Buffer.alloc(6);
  private tsih = 0;
  private first = true;
  private tpgtSent = false;

  constructor(private readonly ctx: LoginContext) {}

  private fail(status: number, reason: string, req: LoginRequestFields): LoginAnswer {
    return { status, transit: false, csg: req.csg, nsg: 0, pairs: [], reason };
  }

  handle(req: LoginRequestFields, pairs: readonly TextPair[]): LoginAnswer {
    // RFC 7143 §11.12.4: version 0x00 is the only one defined.
    if (req.versionMin > 0) return this.fail(LoginStatus.UNSUPPORTED_VERSION, `version ${req.versionMin}..${req.versionMax}`, req);
    if (req.csg !== LoginStage.SECURITY_NEGOTIATION && req.csg !== LoginStage.LOGIN_OPERATIONAL_NEGOTIATION) {
      return this.fail(LoginStatus.INITIATOR_ERROR, `invalid CSG ${req.csg}`, req);
    }
    if (req.transit) {
      // RFC 7143 §11.12.3: NSG 2 is reserved; a transit never goes back.
      if (req.nsg === 2 || req.nsg <= req.csg) return this.fail(LoginStatus.INITIATOR_ERROR, `invalid NSG ${req.nsg} from CSG ${req.csg}`, req);
    }
    const keys = new Map<string, string>();
    for (const p of pairs) keys.set(p.key, p.value);

    if (this.first) {
      const r = this.leading(req, keys);
      if (r !== null) return r;
      this.first = false;
      this.stage = req.csg;
    } else {
      // RFC 7143 §6.3: the ISID/TSIH must not change within one login.
      if (!req.isid.equals(this.isid) || req.tsih !== this.tsih) return this.fail(LoginStatus.INITIATOR_ERROR, 'ISID/TSIH changed during login', req);
      if (req.csg < this.stage) return this.fail(LoginStatus.INITIATOR_ERROR, `CSG went back from ${this.stage} to ${req.csg}`, req);
      if (req.csg > this.stage) {
        // Only allowed if we agreed to transit in the previous answer (tracked by stage update below).
        return this.fail(LoginStatus.INITIATOR_ERROR, `unexpected CSG ${req.csg} in stage ${this.stage}`, req);
      }
      for (const k of ['InitiatorName', 'TargetName', 'SessionType'] as const) {
        const v = keys.get(k);
        if (v === undefined) continue;
        const cur = k === 'InitiatorName' ? this.initiatorName : k === 'TargetName' ? this.targetName : this.sessionType;
        if (v !== cur) return this.fail(LoginStatus.INITIATOR_ERROR, `${k} changed during login`, req);
        keys.delete(k);
      }
    }
    for (const k of ['InitiatorName', 'TargetName', 'SessionType'] as const) keys.delete(k);

    const out: Array<[string, string]> = [];
    if (!this.tpgtSent && this.sessionType === 'Normal') {
      // RFC 7143 §13.9: returned in the Login Response to the first Login Request (C = 0) that carries TargetName.
      out.push(['TargetPortalGroupTag', String(this.tpgt)]);
      this.tpgtSent = true;
    }

    if (req.csg === LoginStage.SECURITY_NEGOTIATION) return this.security(req, keys, out);
    return this.operational(req, keys, out);
  }

  private leading(req: LoginRequestFields, keys: Map<string, string>): LoginAnswer | null {
    this.isid = Buffer.from(req.isid);
    this.tsih = req.tsih;
    const initiatorName = keys.get('InitiatorName');
    // RFC 7143 §13.6: "InitiatorName ... MUST be sent in the first Login Request".
    if (initiatorName === undefined || initiatorName === '') return this.fail(LoginStatus.MISSING_PARAMETER, 'InitiatorName missing', req);
    this.initiatorName = initiatorName;
    const st = keys.get('SessionType') ?? 'Normal';
    if (st !== 'Normal' && st !== 'Discovery') return this.fail(LoginStatus.SESSION_TYPE_NOT_SUPPORTED, `SessionType ${st}`, req);
    this.sessionType = st;
    if (req.tsih !== 0) {
      // Adding a connection to an existing session (MC/S) is not supported: MaxConnections=1.
      if (!this.ctx.sessionExists(req.tsih)) return this.fail(LoginStatus.SESSION_DOES_NOT_EXIST, `TSIH ${req.tsih} unknown`, req);
      return this.fail(LoginStatus.TOO_MANY_CONNECTIONS, 'MaxConnections=1', req);
    }
    if (st === 'Discovery') {
      this.chapPolicy = this.ctx.registry.discoveryChap();
      this.negotiator = new ParamNegotiator('Discovery', this.limits);
      return null;
    }
    const targetName = keys.get('TargetName');
    // RFC 7143 §13.4: TargetName is mandatory in the first Login Request of a Normal session.
    if (targetName === undefined || targetName === '') return this.fail(LoginStatus.MISSING_PARAMETER, 'TargetName missing', req);
    this.targetName = targetName;
    const target = this.ctx.registry.findTarget(targetName);
    if (target === undefined) return this.fail(LoginStatus.NOT_FOUND, `target ${targetName} not found`, req);
    const tpgt = target.tpgtFor(this.ctx.localAddress, this.ctx.localPort);
    if (tpgt === undefined) return this.fail(LoginStatus.NOT_FOUND, `target ${targetName} not served on ${this.ctx.localAddress}`, req);
    const access = target.access(initiatorName);
    if (!access.allowed) return this.fail(LoginStatus.AUTHORIZATION_FAILURE, `initiator ${initiatorName} not allowed on ${targetName}`, req);
    this.target = target;
    this.tpgt = tpgt;
    this.chapPolicy = access.chap;
    this.limits = target.limits();
    this.negotiator = new ParamNegotiator('Normal', this.limits);
    return null;
  }

  private security(req: LoginRequestFields, keys: Map<string, string>, out: Array<[string, string]>): LoginAnswer {
    const am = keys.get('AuthMethod');
    keys.delete('AuthMethod');
    if (am !== undefined) {
      if (this.authMethod !== null) return this.fail(LoginStatus.INITIATOR_ERROR, 'AuthMethod sent twice', req);
      const offered = am.split(',');
      if (this.chapPolicy !== null) {
        if (!offered.includes('CHAP')) {
          return this.fail(LoginStatus.AUTHENTICATION_FAILED, `CHAP required, initiator offered ${am}`, req);
        }
        this.authMethod = 'CHAP';
        this.chap = new ChapAuthenticator(this.chapPolicy);
      } else if (offered.includes('None')) {
        this.authMethod = 'None';
        this.authenticated = true;
      } else {
        return this.fail(LoginStatus.AUTHENTICATION_FAILED, `no acceptable AuthMethod in ${am}`, req);
      }
      out.push(['AuthMethod', this.authMethod]);
    }
    const chapKeys = new Map<string, string>();
    for (const k of ['CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R']) {
      const v = keys.get(k);
      if (v !== undefined) {
        chapKeys.set(k, v);
        keys.delete(k);
      }
    }
    if (chapKeys.size > 0) {
      if (this.chap === null || this.authenticated) return this.fail(LoginStatus.INITIATOR_ERROR, 'CHAP keys without AuthMethod=CHAP', req);
      const step = this.chap.step(chapKeys);
      if (step.kind === 'fail') return this.fail(LoginStatus.AUTHENTICATION_FAILED, step.reason, req);
      out.push(...step.reply);
      if (step.kind === 'done') {
        this.authenticated = true;
        this.mutual = step.mutual;
      }
    }
    // Operational keys in the security stage: answered (tolerant of initiators that send them early).
    const err = this.negotiateRest(keys, out);
    if (err !== null) return this.fail(LoginStatus.INITIATOR_ERROR, err, req);

    if (!req.transit) return { status: LoginStatus.SUCCESS, transit: false, csg: req.csg, nsg: 0, pairs: out };
    // The initiator wants to leave the security stage.
    if (!this.authenticated) {
      if (this.chapPolicy !== null) {
        if (this.chap !== null && !this.chap.finished && this.authMethod === 'CHAP' && (am !== undefined || chapKeys.size > 0)) {
          // CHAP still in progress: stay (T = 0) and let the initiator continue.
          return { status: LoginStatus.SUCCESS, transit: false, csg: req.csg, nsg: 0, pairs: out };
        }
        return this.fail(LoginStatus.AUTHENTICATION_FAILED, 'leaving security stage without authentication', req);
      }
      // RFC 7143 §13.? AuthMethod not sent: None assumed when the target requires none.
      this.authMethod = 'None';
      this.authenticated = true;
    }
    if (req.nsg === LoginStage.FULL_FEATURE_PHASE) {
      out.push(...(this.negotiator as ParamNegotiator).declarations(this.target?.alias ?? ''));
      return this.finish(req, out);
    }
    this.stage = LoginStage.LOGIN_OPERATIONAL_NEGOTIATION;
    return { status: LoginStatus.SUCCESS, transit: true, csg: req.csg, nsg: req.nsg, pairs: out };
  }

  private operational(req: LoginRequestFields, keys: Map<string, string>, out: Array<[string, string]>): LoginAnswer {
    if (!this.authenticated) {
      // Leading login straight into the operational stage: only when no authentication is required.
      if (this.chapPolicy !== null) return this.fail(LoginStatus.AUTHENTICATION_FAILED, 'authentication required', req);
      this.authMethod = 'None';
      this.authenticated = true;
    }
    for (const k of keys.keys()) {
      if (k === 'AuthMethod' || k.startsWith('CHAP_')) {
        // RFC 7143 §6.3.1: security keys belong to the security stage.
        return this.fail(LoginStatus.INITIATOR_ERROR, `${k} in operational stage`, req);
      }
    }
    const neg = this.negotiator as ParamNegotiator;
    const err = this.negotiateRest(keys, out);
    if (err !== null) return this.fail(LoginStatus.INITIATOR_ERROR, err, req);
    out.push(...neg.declarations(this.target?.alias ?? ''));
    if (!req.transit) return { status: LoginStatus.SUCCESS, transit: false, csg: req.csg, nsg: 0, pairs: out };
    const offers = neg.offers();
    if (offers.length > 0 || neg.awaitingOfferReplies) {
      // RFC 7143 §6.2: a target with outstanding offers does not transit yet.
      out.push(...offers);
      return { status: LoginStatus.SUCCESS, transit: false, csg: req.csg, nsg: 0, pairs: out };
    }
    return this.finish(req, out);
  }

  private negotiateRest(keys: Map<string, string>, out: Array<[string, string]>): string | null {
    const neg = this.negotiator as ParamNegotiator;
    for (const [k, v] of keys) {
      if (k === 'SendTargets') {
        out.push([k, TextAnswer.IRRELEVANT]);
        continue;
      }
      if (LOGIN_KEYS.has(k)) return `${k} out of place`;
      if (!isOperationalKey(k)) {
        out.push([k, TextAnswer.NOT_UNDERSTOOD]);
        continue;
      }
      const r = neg.negotiate(k, v);
      if (r.kind === 'error') return r.message;
      if (r.answer !== null) out.push([k, r.answer]);
    }
    return null;
  }

  private finish(req: LoginRequestFields, out: Array<[string, string]>): LoginAnswer {
    const neg = this.negotiator as ParamNegotiator;
    this.stage = LoginStage.FULL_FEATURE_PHASE;
    return {
      status: LoginStatus.SUCCESS,
      transit: true,
      csg: req.csg,
      nsg: LoginStage.FULL_FEATURE_PHASE,
      pairs: out,
      complete: {
        sessionType: this.sessionType,
        initiatorName: this.initiatorName,
        initiatorAlias: neg.result().initiatorAlias,
        target: this.target,
        // the registry's spelling of the name (IQNs are case-insensitive, RFC 3722)
        targetName: this.target?.name ?? this.targetName,
        tpgt: this.tpgt,
        params: neg.result(),
        limits: this.limits,
        authMethod: this.authMethod ?? 'None',
        mutual: this.mutual,
        isid: this.isid,
      },
    };
  }

  /** Current stage (-1 before the first request). */
  get currentStage(): number {
    return this.stage;
  }

  /** The initiator name once known (for logs). */
  get initiator(): string {
    return this.initiatorName;
  }
}
