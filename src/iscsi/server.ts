/**
 * The iSCSI target server the gateway composes: portals (one net.Server per
 * ip:port), connections, the session table (TSIH allocation, session
 * reinstatement per RFC 7143 §6.3.5), and the operations the gateway needs
 * (list sessions, drop sessions after a config change, close).
 */
import type { Duplex } from 'node:stream';
import type { SessionParams } from './params.js';
import { openPortal, type LentReads, type Portal } from './portal.js';
import type { IscsiTargetRegistry } from './registry.js';
import { Connection, type ConnectionHost, type LoggerLike } from './connection.js';
import type { Session } from './session.js';
import { IscsiStats } from './stats.js';
import { LoginGuard } from './login-guard.js';
import type { AuthThrottleOptions } from '../util/auth-throttle.js';

export type { LoggerLike } from './connection.js';

export interface IscsiSessionInfo {
  targetName: string;
  initiatorName: string;
  initiatorAlias: string;
  /** 12 hex digits. */
  isid: string;
  tsih: number;
  tpgt: number;
  remoteAddress: string;
  localAddress: string;
  localPort: number;
  loginTime: Date;
  authMethod: 'CHAP' | 'None';
  mutual: boolean;
  connections: number;
  /** 'Normal' or 'Discovery' (added member). */
  sessionType: 'Normal' | 'Discovery';
  /** The operational parameters negotiated at login. */
  params: Readonly<SessionParams> | null;
}

/** A socket-like stream with the addresses net.Socket has (tests may feed other Duplexes). */
export type SocketLike = Duplex & {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  setNoDelay?: (noDelay?: boolean) => unknown;
};

export interface IscsiServerOptions {
  registry: IscsiTargetRegistry;
  logger: LoggerLike;
  /** Login must complete within this time (default 15 s). */
  loginTimeoutMs?: number;
  /** Guessing protection of CHAP logins (util/auth-throttle.ts defaults when absent). */
  authThrottle?: Partial<AuthThrottleOptions>;
  /** Connections from one address, in any phase; more are closed at once (default 256). */
  maxConnectionsPerAddress?: number;
}

const portalKey = (host: string, port: number): string => `${host}|${port}`;

export class IscsiServer {
  private readonly registry: IscsiTargetRegistry;
  private readonly log: LoggerLike;
  private readonly portals = new Map<string, Portal>();
  private readonly connections = new Set<Connection>();
  private readonly byTsih = new Map<number, Connection>();
  private nextTsih = 1;
  private readonly host: ConnectionHost;
  private readonly loginTimeoutMs: number;
  /** Login, reject, digest and task management counters of every connection (for the metrics). */
  readonly stats = new IscsiStats();
  readonly loginGuard: LoginGuard;
  private readonly maxPerAddress: number;
  private readonly perAddress = new Map<string, number>();
  /** Connections closed at accept by the per-address cap (plain number, for exporters). */
  refusedConnections = 0;
  private refusedLogged = 0;

  constructor(opts: IscsiServerOptions) {
    this.registry = opts.registry;
    this.log = opts.logger;
    this.loginTimeoutMs = opts.loginTimeoutMs ?? 15_000;
    this.loginGuard = new LoginGuard(opts.authThrottle ?? {}, this.log);
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? 256;
    this.host = {
      registry: this.registry,
      logger: this.log,
      loginTimeoutMs: this.loginTimeoutMs,
      loginGuard: this.loginGuard,
      sessionExists: (tsih) => this.byTsih.has(tsih),
      registerSession: (conn, key) => this.registerSession(conn, key),
      connectionClosed: (conn) => this.connectionClosed(conn),
      otherSessions: (conn, targetName) => {
        const out: Session[] = [];
        for (const c of this.connections) {
          if (c === conn) continue;
          const s = c.ffpSession();
          if (s !== null && s.id.targetName === targetName) out.push(s);
        }
        return out;
      },
      stats: this.stats,
    };
  }

  /** Starts a portal. Several portals are allowed; listening twice on one ip:port is a no-op. */
  async listen(host: string, port: number): Promise<void> {
    const key = portalKey(host, port);
    if (this.portals.has(key)) return;
    const portal = await openPortal(host, port, (socket, reads) => this.handleConnection(socket, reads));
    this.portals.set(key, portal);
    this.log.info({ host, port: portal.boundPort() }, 'iSCSI portal listening');
  }

  /** The port bound for a portal started with listen(host, port) (useful with port 0). */
  boundPort(host: string, port: number): number | undefined {
    return this.portals.get(portalKey(host, port))?.boundPort();
  }

  /** Stops a portal; sessions that arrived through it stay up (the gateway drops them if needed). */
  async unlisten(host: string, port: number): Promise<void> {
    const key = portalKey(host, port);
    const p = this.portals.get(key);
    if (p === undefined) return;
    this.portals.delete(key);
    await p.close();
  }

  /** `reads`: the socket's reads are lent (portal.ts), not emitted as 'data'. */
  handleConnection(socket: SocketLike, reads?: LentReads): void {
    // A flood of connections from one address (held logins included) must not exhaust fds or
    // memory: past the cap, new ones are closed before any PDU is read.
    const address = socket.remoteAddress ?? '';
    const open = this.perAddress.get(address) ?? 0;
    if (open >= this.maxPerAddress) {
      this.refusedConnections++;
      // one line per power of two: a flood cannot flood the log
      if (this.refusedConnections >= this.refusedLogged * 2) {
        this.refusedLogged = this.refusedConnections;
        this.log.warn({ remote: address, open, refused: this.refusedConnections }, 'too many connections from one address: closing new ones');
      }
      socket.destroy();
      return;
    }
    this.perAddress.set(address, open + 1);
    const conn = new Connection(socket, this.host, reads);
    this.connections.add(conn);
  }

  private registerSession(conn: Connection, key: { initiatorName: string; isid: string; targetName: string; tpgt: number }): number {
    // RFC 7143 §6.3.5 "Session Reinstatement": a leading login with TSIH 0 and the
    // ISID of an existing session of the same initiator and target portal group
    // closes that session first.
    for (const other of this.connections) {
      if (other === conn) continue;
      const id = other.sessionIdentity();
      if (id === null || other.isDiscovery) continue;
      if (id.initiatorName === key.initiatorName && id.isid === key.isid && id.targetName === key.targetName && id.tpgt === key.tpgt) {
        this.log.info({ initiator: key.initiatorName, isid: key.isid, tsih: id.tsih }, 'session reinstatement: closing the old session');
        other.close('session reinstatement');
      }
    }
    let tsih = this.nextTsih;
    // TSIH 0 is reserved (RFC 7143 §11.12.6); wrap within 16 bits avoiding live ones.
    for (let i = 0; i < 0x10000; i++) {
      if (tsih !== 0 && !this.byTsih.has(tsih)) break;
      tsih = (tsih + 1) & 0xffff;
    }
    this.nextTsih = (tsih + 1) & 0xffff || 1;
    this.byTsih.set(tsih, conn);
    return tsih;
  }

  private connectionClosed(conn: Connection): void {
    if (this.connections.delete(conn)) {
      const left = (this.perAddress.get(conn.remoteAddress) ?? 1) - 1;
      if (left > 0) this.perAddress.set(conn.remoteAddress, left);
      else this.perAddress.delete(conn.remoteAddress);
    }
    const id = conn.sessionIdentity();
    if (id !== null && this.byTsih.get(id.tsih) === conn) this.byTsih.delete(id.tsih);
  }

  sessions(): IscsiSessionInfo[] {
    const out: IscsiSessionInfo[] = [];
    for (const c of this.connections) {
      const info = c.sessionInfo();
      if (info !== null) out.push(info);
    }
    return out;
  }

  /** Drop sessions matching a predicate (target deleted, client removed, ACL changed). */
  dropSessions(pred: (s: IscsiSessionInfo) => boolean): number {
    let n = 0;
    for (const c of [...this.connections]) {
      const info = c.sessionInfo();
      if (info !== null && pred(info)) {
        c.close('dropped by configuration');
        n++;
      }
    }
    return n;
  }

  /**
   * Asks every normal session to log out within `seconds` (Async Message, RFC 7143 §11.9.1),
   * the portals staying open; the number of connections asked.
   */
  requestLogout(seconds: number): number {
    let n = 0;
    for (const c of this.connections) if (c.requestLogout(seconds)) n++;
    return n;
  }

  /** Open connections, in any phase (added member, for status and tests). */
  connectionCount(): number {
    return this.connections.size;
  }

  listening(): boolean {
    return this.portals.size > 0;
  }

  /**
   * Stop listening and close all connections; resolves when they are gone.
   * With `logoutGraceMs` > 0 (added option), sessions first get an Async Message
   * "logout request" (RFC 7143 §11.9.1) and that long to log out cleanly.
   */
  async close(opts: { logoutGraceMs?: number } = {}): Promise<void> {
    const portals = [...this.portals.values()];
    this.portals.clear();
    await Promise.all(portals.map((p) => p.close()));
    const grace = opts.logoutGraceMs ?? 0;
    if (grace > 0) {
      const asked = [...this.connections].filter((c) => c.requestLogout(Math.ceil(grace / 1000)));
      if (asked.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(asked.map((c) => c.closed)),
          new Promise<void>((r) => {
            timer = setTimeout(r, grace);
          }),
        ]);
        if (timer !== undefined) clearTimeout(timer);
      }
    }
    const closing = [...this.connections].map((c) => c.closeAndWait('server shutdown'));
    await Promise.all(closing);
  }
}
