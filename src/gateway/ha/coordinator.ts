/**
 * High availability of one gateway in its group: heartbeat lease, peer liveness, the exclusive
 * lock of each disk (who writes), ALUA that follows it, hand-off, takeover and self-fencing.
 *
 * Timeline of a failure (lease L = ha_lease_ms, 3 s by default):
 * - every gateway renews its board record every L/6 and reads the others' every ~L/12 (and at
 *   once on a board notify);
 * - a peer whose record did not move for L is dead: for each disk it held, the designated
 *   survivor (view.ts) breaks the lock (librbd blocklists the dead client, so none of its
 *   queued writes can land) and takes it; the ALUA view moves at the same time;
 * - a gateway that could not renew within 3/4 L of its last renewal's start refuses every
 *   medium change (ALUA TRANSITIONING) and drops its sessions until it has renewed again:
 *   its peers cannot have declared it dead before that instant, so a frozen (SIGSTOP) or
 *   partitioned gateway never applies a write after a peer took over.
 *
 * Hand-off between live gateways: a write reaching a gateway that does not hold the disk's
 * lock asks for it (`wants` in the record) and waits up to WAIT_MS, else answers ALUA
 * TRANSITIONING (the initiator retries, and RTPG steers it to the holder); it stops asking once
 * no write has needed the lock for WAIT_MS (the initiator went to the holder). The holder grants
 * when it is idle for the disk (no write for IDLE_MS) or has held it for MIN_HOLD_MS: two
 * initiators writing through two gateways make the lock move at most every MIN_HOLD_MS.
 *
 * On the file default there is no lock: every gateway writes (one data_dir, one page cache),
 * and only the lease fencing and the ALUA view apply, plus the fence of a lapsed peer's process
 * on this host (fence.ts): it may have writes in its thread pool that its own lease check
 * cannot stop.
 */
import { randomBytes } from 'node:crypto';
import type { ExclusiveLock } from '../../backstore/backstore.js';
import type { GatewayConfig } from '../../config/schema.js';
import type { AluaGroup, WriteArbiter } from '../../scsi/logical-unit.js';
import type { SenseReason } from '../../scsi/sense.js';
import type { Logger } from '../../util/log.js';
import type { ResetReason } from '../../scsi/logical-unit.js';
import type { Board, MemberRecord } from './board.js';
import type { FenceOutcome, ProcessIdentity } from './fence.js';
import { ResetRelay } from './resets.js';
import { activeGateway, designatedGateway, haAluaGroups, type ClusterView } from './view.js';

/** How long a write waits for a hand-off before ALUA TRANSITIONING. */
const WAIT_MS = 2000;
/** How long the lock is pursued after a write asked for it. */
const PURSUE_MS = 15_000;
/** A holder with no write for this long hands the lock over at once. */
const IDLE_MS = 20;
/** A hold taken for writes through a non-designated gateway becomes what ALUA reports after this long (view.ts). */
const SETTLE_MS = 10_000;
/** A busy holder hands the lock over after holding it this long (hysteresis against ping-pong). */
const MIN_HOLD_MS = 3000;
/**
 * How long a gateway that released the lock leaves it to a peer that asked for it (that peer
 * takes it at its next board read, well within this), before its own writes may take it.
 */
const HANDOVER_MS = 1000;
/** How long SET TARGET PORT GROUPS waits for the move. */
const STPG_MS = 10_000;
/** Failback (implicit ALUA): the preferred owner must have been up this long ... */
const FAILBACK_STABLE_MS = 5000;
/** ... and the holder idle this long before the holder hands the disk back. */
const FAILBACK_IDLE_MS = 2000;
/** How long a reset waits for the live peers to queue its unit attention. */
const RESET_ACK_MS = 2000;

/** A peer record's holds as sets, built once per record (records are replaced, never changed). */
const holdSetCache = new WeakMap<MemberRecord, { holds: ReadonlySet<string>; settled: ReadonlySet<string> }>();
function holdSets(r: MemberRecord): { holds: ReadonlySet<string>; settled: ReadonlySet<string> } {
  let sets = holdSetCache.get(r);
  if (sets === undefined) {
    sets = { holds: new Set(r.holds), settled: new Set(r.settled ?? r.holds) }; // a record without `settled`: every hold
    holdSetCache.set(r, sets);
  }
  return sets;
}

/** What ALUA groups depend on in a ClusterView: the alive gateways and the settled holders. */
function viewKey(view: ClusterView): string {
  const holders = [...view.holders].map(([disk, gw]) => `${disk}=${gw}`).sort();
  return `${[...view.alive].sort().join(',')}|${holders.join(',')}`;
}

function isFenced(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'ERR_BACKSTORE_LOCK_LOST';
}

export interface HaDisk {
  id: string;
  target: string;
  owner: string | undefined;
}

export interface HaOptions {
  gatewayName: string;
  board: Board;
  leaseMs: number;
  doc: () => GatewayConfig | undefined;
  log: Logger;
  /** The data-path client's address (lock owner name), Ceph only. */
  dataAddress?: () => string | undefined;
  /** Removes a blocklist entry (this gateway's previous process), Ceph only. */
  unblocklist?: (address: string) => Promise<void>;
  /** The ALUA groups of these disks changed: tell their initiators. */
  onAluaChanged: (diskId: string) => void;
  /** The lease lapsed: drop every session (their queued commands must not run). */
  onFenced: () => void;
  /** This gateway's data client was blocklisted: connect a new one (Ceph). */
  rejoin?: () => Promise<void>;
  /** This process, published so that a peer on the same host can fence it (file default). */
  identity?: ProcessIdentity;
  /**
   * Fences a peer whose lease lapsed while its process may still run (file default: kills it,
   * fence.ts). Ceph needs none: breaking the dead holder's lock blocklists its client.
   */
  fencePeer?: (id: ProcessIdentity) => Promise<FenceOutcome>;
  now?: () => number;
  /** Explicit ALUA (alua_failover_type): the PREF bit marks the config owner's group. */
  explicit?: boolean;
  /** A peer reset a disk this gateway exports: queue the unit attention on the local nexuses. */
  onPeerReset?: (diskId: string, reason: ResetReason) => void;
}

interface Peer {
  record: MemberRecord;
  /** Local monotonic time the record last moved. */
  movedAt: number;
  /** Local monotonic time this incarnation was first seen up. */
  upSince: number;
  /** Fencing of this record's process after its lease lapsed (fencePeer), once per record. */
  fencing?: Promise<void>;
}

class DiskState implements WriteArbiter {
  inflight = 0;
  lastWriteEnd = -Infinity;
  heldSince = 0;
  /** The hold is reported by ALUA (view.ts): taken as the designated gateway, for STPG, or held SETTLE_MS. */
  settled = false;
  /** Re-check of a wanted lock once this holder may be idle or has held it long enough. */
  recheck: NodeJS.Timeout | undefined;
  /** Last time a write here needed the lock (the demand a pursuit of a live holder serves). */
  askedAt = -Infinity;
  /** When this gateway last released the lock. */
  releasedAt = -Infinity;
  releasing: Promise<void> | undefined;
  pursuing: Promise<boolean> | undefined;
  drained: (() => void) | undefined;
  groups: AluaGroup[] = [];
  signature = '';

  constructor(
    readonly ha: HaCoordinator,
    public disk: HaDisk,
    readonly lock: ExclusiveLock | undefined,
  ) {}

  begin(): SenseReason | undefined | Promise<SenseReason | undefined> {
    if (!this.ha.leaseValid()) return 'ALUA_TRANSITION';
    if (this.lock === undefined) return this.#grant();
    if (this.releasing !== undefined || this.ha.leaving) return 'ALUA_TRANSITION';
    if (this.lock.held()) return this.#grant();
    this.askedAt = this.ha.now();
    return this.ha.pursue(this, WAIT_MS).then((ok) => (ok && this.lock?.held() === true && this.releasing === undefined && this.ha.leaseValid() ? this.#grant() : 'ALUA_TRANSITION'));
  }

  #grant(): undefined {
    this.inflight++;
    return undefined;
  }

  end(): void {
    this.inflight--;
    this.lastWriteEnd = this.ha.now();
    if (this.inflight === 0) {
      this.drained?.();
      this.ha.idleSoon(this);
    }
  }

  drain(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = () => {
        this.drained = undefined;
        resolve();
      };
    });
  }
}

export class HaCoordinator {
  readonly #o: HaOptions;
  readonly #log: Logger;
  readonly now: () => number;
  readonly incarnation = randomBytes(6).toString('hex');
  #seq = 0;
  /** When this gateway started watching the board: liveness is known one lease later. */
  #startedAt = Infinity;
  /** Local time the last successful renewal was started. */
  #renewedAt = -Infinity;
  #fenced = false;
  leaving = false;
  #stopped = false;
  readonly #peers = new Map<string, Peer>();
  readonly #disks = new Map<string, DiskState>();
  readonly #wants = new Set<string>();
  readonly #urgent = new Set<string>();
  readonly #offers = new Map<string, string>();
  #stpg: Promise<unknown> = Promise.resolve();
  #publishing: Promise<void> | undefined;
  #republish = false;
  #timers: NodeJS.Timeout[] = [];
  #refreshing: Promise<void> | undefined;
  #changeWaiters: (() => void)[] = [];
  #rejoining: Promise<void> | undefined;
  /** Local time of the last board refresh: a longer gap means this gateway was not running. */
  #lastRefreshAt = -Infinity;
  /** Lock acquisitions and releases by this gateway, for the logs and tests. */
  transitions = 0;
  /** Exclusive lock acquisitions, hand-overs and losses (another gateway took it, or fenced) since start. */
  locksAcquired = 0;
  locksReleased = 0;
  locksLost = 0;
  readonly #resets: ResetRelay;
  /** The targets' portals and ip_lists, and the view (viewKey), of the last recompute of every disk. */
  #recomputedFor: { portals: unknown[]; key: string } | undefined;

  constructor(o: HaOptions) {
    this.#o = o;
    this.#resets = new ResetRelay((e, from) => {
      this.#log.info({ disk: e.disk, reason: e.reason, from }, 'HA: reset through a peer gateway');
      o.onPeerReset?.(e.disk, e.reason);
    });
    this.#log = o.log;
    this.now = o.now ?? (() => performance.now());
    o.board.onChange(() => void this.refresh());
  }

  get gatewayName(): string {
    return this.#o.gatewayName;
  }

  /** Publishes the first record (after unblocklisting this gateway's previous process), starts the timers. */
  async start(): Promise<void> {
    const prev = await this.#o.board.read(this.gatewayName).catch(() => undefined);
    const mine = this.#o.dataAddress?.();
    if (prev?.dataAddress !== undefined && prev.dataAddress !== mine && this.#o.unblocklist !== undefined) {
      // Upstream cleans this host's entries at start too; only our own previous client, so a
      // fenced peer sharing this host's address stays fenced.
      await this.#o.unblocklist(prev.dataAddress).catch((err: unknown) => this.#log.debug({ err }, 'blocklist clean-up failed'));
    }
    this.#startedAt = this.now();
    await this.#publish();
    await this.refresh();
    const lease = this.#o.leaseMs;
    this.#timers.push(
      setInterval(() => {
        this.leaseValid(); // a lapse seen here (resumed after SIGSTOP) fences before any queued command runs
        void this.#publish();
      }, Math.max(100, Math.floor(lease / 6))),
    );
    this.#timers.push(setInterval(() => void this.refresh(), Math.max(50, Math.floor(lease / 12))));
    for (const t of this.#timers) t.unref();
  }

  /** The lease is valid: no peer can have declared this gateway dead. Detects a lapse (and fences). */
  leaseValid(): boolean {
    if (this.#stopped) return false;
    if (this.now() - this.#renewedAt < (this.#o.leaseMs * 3) / 4) return !this.#fenced;
    this.#fence();
    return false;
  }

  #fence(): void {
    if (this.#fenced) return;
    this.#fenced = true;
    this.#log.warn({ leaseMs: this.#o.leaseMs }, 'HA lease lapsed (frozen or cut off from the cluster): refusing writes and dropping sessions until renewed');
    for (const d of this.#disks.values()) {
      // A peer may have taken the lock over (blocklisting this client): held no more until re-checked.
      if (d.lock?.held() === true) d.heldSince = -Infinity;
    }
    this.#o.onFenced();
    this.#recompute();
  }

  #record(): MemberRecord {
    const holds: string[] = [];
    const settled: string[] = [];
    for (const d of this.#disks.values()) {
      if (d.lock?.held() !== true || d.releasing !== undefined) continue;
      holds.push(d.disk.id);
      if (d.settled) settled.push(d.disk.id);
    }
    const addr = this.#o.dataAddress?.();
    return {
      gateway: this.gatewayName,
      incarnation: this.incarnation,
      seq: ++this.#seq,
      state: this.#stopped ? 'gone' : this.leaving ? 'leaving' : 'up',
      ...(addr !== undefined ? { dataAddress: addr } : {}),
      ...(this.#o.identity !== undefined ? { process: this.#o.identity } : {}),
      holds: holds.sort(),
      settled: settled.sort(),
      wants: [...this.#wants].sort(),
      urgent: [...this.#urgent].filter((d) => this.#wants.has(d)).sort(),
      offers: Object.fromEntries(this.#offers),
      ...this.#resets.fields(),
    };
  }

  /** Writes the record now (coalesced: one write in flight, one more after it). */
  #publish(): Promise<void> {
    if (this.#publishing !== undefined) {
      this.#republish = true;
      return this.#publishing;
    }
    this.#publishing = (async () => {
      do {
        this.#republish = false;
        const started = this.now();
        try {
          await this.#o.board.publish(this.#record());
          this.#renewedAt = started;
          if (this.#fenced && !this.#stopped) {
            this.#fenced = false;
            this.#log.info('HA lease renewed: serving writes again');
            await this.#recheckLocks();
            this.#recompute();
          }
        } catch (err) {
          this.#log.warn({ err }, 'HA heartbeat could not be written');
        }
      } while (this.#republish && !this.#stopped);
    })().finally(() => {
      this.#publishing = undefined;
    });
    return this.#publishing;
  }

  /** After a lapse: which locks does librbd still give this client? */
  async #recheckLocks(): Promise<void> {
    for (const d of this.#disks.values()) {
      if (d.lock === undefined || !d.lock.held()) continue;
      let owners: string[];
      try {
        owners = await d.lock.owners();
      } catch (err) {
        if (isFenced(err)) void this.rejoin();
        owners = [];
      }
      if (!owners.includes(d.lock.clientAddress)) {
        await d.lock.release().catch(() => undefined);
        this.#log.warn({ disk: d.disk.id }, 'exclusive lock taken over by a peer while this gateway was fenced');
      } else {
        d.heldSince = this.now();
      }
    }
  }

  /** Reads the board, updates liveness, then acts (grant, take over) and recomputes ALUA. */
  refresh(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    this.#refreshing = (async () => {
      try {
        this.#creditStall();
        const records = await this.#o.board.readAll();
        const t = this.now();
        let acknowledge = false;
        for (const r of records) {
          if (r.gateway === this.gatewayName) continue;
          const p = this.#peers.get(r.gateway);
          if (p === undefined || p.record.seq !== r.seq || p.record.incarnation !== r.incarnation) {
            const same = p !== undefined && p.record.incarnation === r.incarnation && p.record.state === 'up' && r.state === 'up';
            this.#peers.set(r.gateway, { record: r, movedAt: t, upSince: same ? p.upSince : t });
          }
          if (this.#resets.observe(r)) acknowledge = true;
        }
        if (acknowledge) void this.#publish();
      } catch (err) {
        this.#log.debug({ err }, 'HA board read failed');
      }
      this.#fenceLapsed();
      this.#act();
      this.#recompute();
      const waiters = this.#changeWaiters;
      this.#changeWaiters = [];
      for (const w of waiters) w();
    })().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /**
   * Time this gateway did not run (frozen, or its event loop stalled, the host paused) does
   * not count against its peers: they were likely stopped too, and get half a lease to be
   * seen renewing before they are judged (and a same-host peer fenced).
   */
  #creditStall(): void {
    const t = this.now();
    if (t - this.#lastRefreshAt > this.#o.leaseMs / 4) {
      for (const p of this.#peers.values()) p.movedAt = Math.max(p.movedAt, t - this.#o.leaseMs / 2);
    }
    this.#lastRefreshAt = t;
  }

  /** Peers whose lease lapsed without a clean stop: fence their process once (file default). */
  #fenceLapsed(): void {
    if (this.#o.fencePeer === undefined || this.#stopped || !this.leaseValid()) return;
    for (const [name, p] of this.#peers) {
      if (p.fencing !== undefined || p.record.state === 'gone' || p.record.process === undefined || this.#present(p)) continue;
      p.fencing = this.#fencePeer(name, p, p.record.process, this.#o.fencePeer);
    }
  }

  async #fencePeer(name: string, p: Peer, id: ProcessIdentity, fence: (id: ProcessIdentity) => Promise<FenceOutcome>): Promise<void> {
    const lapsedMs = Math.round(this.now() - p.movedAt);
    try {
      // Read its record once more: a peer that renewed meanwhile is alive, not fenced.
      const fresh = await this.#o.board.read(name);
      if (fresh === undefined || fresh.incarnation !== p.record.incarnation || fresh.seq !== p.record.seq || fresh.state === 'gone') return;
      const outcome = await fence(id);
      const fields = { peer: name, pid: id.pid, lapsedMs };
      if (outcome === 'killed') {
        this.#log.warn(fields, 'HA: fenced a peer whose lease lapsed while its process still ran on this host (killed, exited): none of the writes it had queued can land');
      } else if (outcome === 'failed') {
        this.#log.error(fields, 'HA: could not fence a peer whose lease lapsed (kill refused, or it did not exit): writes it had queued may still land');
      } else if (outcome === 'elsewhere') {
        this.#log.warn(fields, 'HA: a peer on another host let its lease lapse and cannot be fenced from here: writes it had queued before it stalled may still land (share a data_dir between hosts only with care; Ceph fences by blocklist)');
      } else {
        this.#log.info(fields, 'HA: a peer\'s lease lapsed; its process has exited');
      }
    } catch (err) {
      this.#log.warn({ err, peer: name }, 'HA: fencing a peer failed');
    }
  }

  /** A peer is present while its lease runs and it has not said gone. */
  #present(p: Peer): boolean {
    return p.record.state !== 'gone' && this.now() - p.movedAt < this.#o.leaseMs;
  }

  view(): ClusterView {
    return this.#viewOf(undefined);
  }

  /**
   * The view as one disk's decisions read it (`diskId`): the alive gateways and that disk's
   * holder only, O(peers). The whole view is O(disks held), and per-disk callers (attach, a
   * change of its entry, a lock taken) made a start or a LUN map at 1,000 LUNs O(n^2).
   */
  #viewFor(diskId: string): ClusterView {
    return this.#viewOf(diskId);
  }

  #viewOf(diskId: string | undefined): ClusterView {
    const alive = new Set<string>();
    const holders = new Map<string, string>();
    const locks = new Map<string, string>();
    if (!this.#fenced && !this.leaving && !this.#stopped) alive.add(this.gatewayName);
    for (const [name, p] of this.#peers) {
      if (!this.#present(p) || p.record.state !== 'up') continue;
      alive.add(name);
      if (diskId === undefined) {
        for (const d of p.record.holds) locks.set(d, name);
        for (const d of p.record.settled ?? p.record.holds) holders.set(d, name); // a record without `settled`: every hold
      } else {
        const sets = holdSets(p.record);
        if (sets.holds.has(diskId)) locks.set(diskId, name);
        if (sets.settled.has(diskId)) holders.set(diskId, name);
      }
    }
    if (!alive.has(this.gatewayName)) return { alive, holders, locks };
    const mine = diskId === undefined ? this.#disks.values() : [this.#disks.get(diskId)];
    for (const d of mine) {
      if (d === undefined || d.lock?.held() !== true) continue;
      locks.set(d.disk.id, this.gatewayName);
      if (d.settled) holders.set(d.disk.id, this.gatewayName);
    }
    return { alive, holders, locks };
  }

  #act(): void {
    if (this.#stopped || this.#fenced) return;
    const view = this.view();
    const doc = this.#o.doc();
    for (const d of this.#disks.values()) this.#actOn(d, view, doc);
  }

  #actOn(d: DiskState, view: ClusterView, doc: GatewayConfig | undefined): void {
    const lock = d.lock;
    if (lock === undefined) return;
    // A lock the pursuit has just taken (held, but pursue() has not yet set heldSince: the
    // image records its owner first) is not judged on the previous hold's times: seen in CI,
    // a failback released a lock 4 ms after taking it.
    if (lock.held() && d.pursuing !== undefined) return;
    if (lock.held() && d.releasing === undefined) {
      if (!d.settled && this.now() - d.heldSince >= SETTLE_MS) {
        d.settled = true; // held long enough: ALUA reports it here now
        void this.#publish();
        this.#recompute();
      }
      if (this.leaving || this.#wanted(d.disk.id)) this.#maybeRelease(d);
      else if (this.#failbackDue(d)) void this.release(d, 'failback to the preferred owner');
      return;
    }
    if (!lock.held() && d.pursuing === undefined && !this.leaving && this.#offeredToMe(d.disk.id)) {
      this.#urgent.add(d.disk.id);
      void this.pursue(d, 0);
      return;
    }
    // Nobody alive holds it and this gateway is the one to serve it: take it (breaking a dead holder's lock).
    const target = doc?.targets[d.disk.target];
    // Not when a peer asked for it: it was just handed over, to that peer.
    if (target === undefined || this.leaving || d.pursuing !== undefined || this.#offers.has(d.disk.id) || this.#wanted(d.disk.id)) return;
    if (!view.locks?.has(d.disk.id) && designatedGateway(target, d.disk.id, d.disk.owner, view.alive) === this.gatewayName) {
      void this.pursue(d, 0);
    }
  }

  /**
   * Failback (implicit ALUA; in explicit mode the initiators choose with SET TARGET PORT GROUPS):
   * the disk goes back to its preferred owner once that gateway has been up for a while and
   * nothing has been written here for a while, so a busy writer is never disturbed and the
   * lock does not bounce. The owner takes it (designated gateway) and the initiators are told
   * by ASYMMETRIC ACCESS STATE CHANGED.
   */
  #failbackDue(d: DiskState): boolean {
    const owner = d.disk.owner;
    if (this.#o.explicit === true || owner === undefined || owner === this.gatewayName) return false;
    if (this.#o.doc()?.targets[d.disk.target]?.portals[owner] === undefined) return false;
    const p = this.#peers.get(owner);
    if (p === undefined || !this.#present(p) || p.record.state !== 'up') return false;
    const t = this.now();
    return t - p.upSince >= FAILBACK_STABLE_MS && d.inflight === 0 && t - d.lastWriteEnd >= FAILBACK_IDLE_MS && t - d.heldSince >= FAILBACK_IDLE_MS;
  }

  #wanted(diskId: string): boolean {
    for (const p of this.#peers.values()) if (this.#present(p) && p.record.state === 'up' && p.record.wants.includes(diskId)) return true;
    return false;
  }

  #wantedUrgently(diskId: string): boolean {
    for (const p of this.#peers.values()) if (this.#present(p) && p.record.state === 'up' && p.record.urgent?.includes(diskId) === true) return true;
    return this.#offers.has(diskId);
  }

  #offeredToMe(diskId: string): boolean {
    for (const p of this.#peers.values()) if (this.#present(p) && p.record.offers?.[diskId] === this.gatewayName) return true;
    return false;
  }

  /**
   * A hold taken as the gateway that should serve the disk (takeover, preference, failback),
   * or for SET TARGET PORT GROUPS, is reported by ALUA at once; one taken for writes through a
   * non-designated path only after SETTLE_MS (view.ts).
   */
  #settlesAtOnce(d: DiskState, urgent: boolean): boolean {
    if (urgent || this.#offeredToMe(d.disk.id)) return true;
    const target = this.#o.doc()?.targets[d.disk.target];
    return target !== undefined && designatedGateway(target, d.disk.id, d.disk.owner, this.#viewFor(d.disk.id).alive) === this.gatewayName;
  }

  /** The disk's last write here ended: if a peer waits for the lock, look again once idle. */
  idleSoon(d: DiskState): void {
    if (d.lock?.held() === true && d.releasing === undefined && this.#wanted(d.disk.id)) this.#recheck(d, IDLE_MS);
  }

  #recheck(d: DiskState, delayMs: number): void {
    if (d.recheck !== undefined) return;
    d.recheck = setTimeout(() => {
      d.recheck = undefined;
      this.#act();
    }, Math.max(1, Math.ceil(delayMs)));
    d.recheck.unref();
  }

  #maybeRelease(d: DiskState): void {
    const t = this.now();
    const idle = d.inflight === 0 && t - d.lastWriteEnd >= IDLE_MS;
    const urgent = this.#wantedUrgently(d.disk.id);
    if (!this.leaving && !urgent && !idle && t - d.heldSince < MIN_HOLD_MS) {
      // Looked at again when the holder may be idle, or at the end of its minimum hold.
      this.#recheck(d, d.inflight === 0 ? d.lastWriteEnd + IDLE_MS - t : d.heldSince + MIN_HOLD_MS - t);
      return;
    }
    void this.release(d, this.leaving ? 'gateway leaving' : urgent ? 'SET TARGET PORT GROUPS' : idle ? 'peer asked, idle here' : 'peer asked, held long enough');
  }

  /**
   * SET TARGET PORT GROUPS asked `gateway`'s group to be active/optimized for the disk: move
   * its lock there (at once, hysteresis aside), serialised per gateway. Resolves when the move
   * is done, or with a sense reason when it could not be done within STPG_MS.
   */
  setActive(diskId: string, gateway: string): Promise<SenseReason | undefined> {
    const run = async (): Promise<SenseReason | undefined> => {
      const d = this.#disks.get(diskId);
      if (d === undefined) return 'SET_TARGET_PORT_GROUPS_COMMAND_FAILED';
      const activeNow = (): string | undefined => {
        const target = this.#o.doc()?.targets[d.disk.target];
        return target === undefined ? undefined : activeGateway(target, diskId, d.disk.owner, this.#viewFor(diskId));
      };
      if (activeNow() === gateway) return undefined;
      if (d.lock === undefined || this.leaving || !this.leaseValid()) return 'SET_TARGET_PORT_GROUPS_COMMAND_FAILED'; // file default: AO follows the config owner
      const deadline = this.now() + STPG_MS;
      if (gateway === this.gatewayName) {
        this.#urgent.add(diskId);
        const ok = await this.pursue(d, STPG_MS);
        this.#urgent.delete(diskId);
        return ok ? undefined : 'SET_TARGET_PORT_GROUPS_COMMAND_FAILED';
      }
      this.#offers.set(diskId, gateway);
      try {
        await this.#publish();
        if (d.lock.held()) await this.release(d, 'SET TARGET PORT GROUPS');
        while (activeNow() !== gateway && this.now() < deadline && !this.#stopped) await this.#nextChange();
        return activeNow() === gateway ? undefined : 'SET_TARGET_PORT_GROUPS_COMMAND_FAILED';
      } finally {
        this.#offers.delete(diskId);
        void this.#publish();
      }
    };
    const p = this.#stpg.then(run, run);
    this.#stpg = p.catch(() => undefined);
    return p;
  }

  release(d: DiskState, why: string): Promise<void> {
    d.releasing ??= (async () => {
      const t0 = this.now();
      await this.#publish(); // holds without it: peers stop waiting on this record
      await d.drain();
      try {
        await d.lock?.release();
        d.releasedAt = this.now();
        this.transitions++;
        this.locksReleased++;
        this.#log.info({ disk: d.disk.id, why, drainMs: Math.round(this.now() - t0), transitions: this.transitions }, 'HA: exclusive lock handed over');
      } catch (err) {
        this.#log.warn({ err, disk: d.disk.id }, 'HA: releasing the exclusive lock failed');
      }
    })().finally(() => {
      d.releasing = undefined;
      d.settled = false;
      void this.#publish();
      this.#recompute();
    });
    return d.releasing;
  }

  /**
   * Gets the disk's lock for this gateway: takes it when free, breaks it when its owner is
   * dead (or an unknown, old client), asks the live holder while writes here need it (or
   * SET TARGET PORT GROUPS asked), gives up otherwise. Resolves within
   * `waitMs` (true when held); the pursuit itself goes on for PURSUE_MS.
   */
  pursue(d: DiskState, waitMs: number): Promise<boolean> {
    d.pursuing ??= this.#pursue(d).finally(() => {
      d.pursuing = undefined;
      if (this.#wants.delete(d.disk.id)) void this.#publish();
    });
    if (waitMs <= 0) return d.pursuing;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      d.pursuing,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), waitMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async #pursue(d: DiskState): Promise<boolean> {
    const lock = d.lock;
    if (lock === undefined) return true;
    const t0 = this.now();
    while (!this.#stopped && !this.leaving && this.now() - t0 < PURSUE_MS) {
      if (!this.leaseValid()) return false;
      if (lock.held()) return true;
      if (this.#offers.has(d.disk.id)) return false; // being handed to another gateway (STPG)
      let owners: string[];
      try {
        owners = await lock.owners();
      } catch (err) {
        if (isFenced(err)) await this.rejoin();
        else this.#log.warn({ err, disk: d.disk.id }, 'HA: cannot read the lock owners');
        await this.#nextChange();
        continue;
      }
      const owner = owners[0];
      const urgent = this.#urgent.has(d.disk.id);
      const holder = owner === undefined ? undefined : [...this.#peers.values()].find((p) => p.record.dataAddress === owner);
      // Just handed over to a peer that asked for it: that peer takes it; this gateway's next
      // write does not grab it back but asks in turn, so the peer keeps it for MIN_HOLD_MS and
      // the lock alternates.
      const handedOver = owner === undefined && !urgent && this.now() - d.releasedAt < HANDOVER_MS && this.#wanted(d.disk.id);
      if (handedOver || (holder !== undefined && this.#present(holder))) {
        // A live holder is asked only for writes arriving here (or SET TARGET PORT GROUPS). Not
        // for a takeover begun on a view that had not yet read the holder's record (a gateway
        // that just started or just learnt of its peer), nor once the writes stopped asking
        // (the initiator moved to the AO path): the lock would leave the gateway serving it,
        // and the initiators would follow it there and back.
        if (!urgent && this.now() - d.askedAt > WAIT_MS) return false;
        if (!this.#wants.has(d.disk.id)) {
          this.#wants.add(d.disk.id);
          void this.#publish();
        }
        await this.#nextChange();
        continue;
      }
      if (owner === undefined || owner === lock.clientAddress) {
        try {
          await lock.acquire();
          d.heldSince = this.now();
          d.settled = this.#settlesAtOnce(d, urgent);
          this.transitions++;
          this.locksAcquired++;
          this.#wants.delete(d.disk.id);
          this.#log.info({ disk: d.disk.id, waitedMs: Math.round(this.now() - t0), transitions: this.transitions }, 'HA: exclusive lock acquired');
          await this.#publish();
          // Only this disk's holder moved: its groups, not every disk's (1,000 locks taken at
          // start were 1,000 passes over 1,000 disks).
          const doc = this.#o.doc();
          if (doc !== undefined) this.#recomputeDisk(d, doc, this.#viewFor(d.disk.id));
          return true;
        } catch (err) {
          this.#log.debug({ err, disk: d.disk.id }, 'HA: lock acquisition lost a race; retrying');
          await this.#nextChange();
          continue;
        }
      }
      // Dead holder (lease expired) or a client no live record names (a previous process):
      // read the board once more before breaking, then break (librbd blocklists it first).
      if (holder === undefined) {
        // Only once this gateway has watched the board for a whole lease does an owner no
        // record names mean a dead process (a live one renews its record within the lease).
        if (this.now() - this.#startedAt < this.#o.leaseMs) {
          await this.#nextChange();
          continue;
        }
        await this.refresh();
        if ([...this.#peers.values()].some((p) => p.record.dataAddress === owner && this.#present(p))) continue;
      }
      try {
        await lock.breakLock(owner);
        this.#log.warn({ disk: d.disk.id, owner, peer: holder?.record.gateway ?? 'unknown client' }, 'HA: broke the exclusive lock of a dead holder (its client is blocklisted)');
      } catch (err) {
        this.#log.warn({ err, disk: d.disk.id, owner }, 'HA: breaking the lock failed');
        await this.#nextChange();
      }
    }
    return lock.held();
  }

  /**
   * A peer blocklisted this gateway's data client (it was declared dead and its disks taken
   * over): nothing it queued can land. Reconnect with a new client and serve again as a
   * non-holder (writes then ask for the locks as usual).
   */
  rejoin(): Promise<void> {
    const rejoin = this.#o.rejoin;
    if (rejoin === undefined || this.#stopped) return Promise.resolve();
    this.#rejoining ??= (async () => {
      this.#log.warn('HA: this gateway was fenced by a peer (its client is blocklisted): rejoining with a new client');
      try {
        await rejoin();
      } catch (err) {
        this.#log.error({ err }, 'HA: rejoin failed; retried at the next fenced operation');
      }
      await this.#publish();
      this.#recompute();
    })().finally(() => {
      this.#rejoining = undefined;
    });
    return this.#rejoining;
  }

  /** Resolves at the next board refresh. */
  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#changeWaiters.push(resolve));
  }

  #recompute(): void {
    const doc = this.#o.doc();
    if (doc === undefined) return;
    const view = this.view();
    // The periodic refresh lands here several times a second: with the same portals in every
    // target (the same objects: documents share unchanged parts) and the same alive gateways
    // and holders, no disk's groups can have moved (a change of one disk goes through
    // #diskChanged), so 1,000 LUNs cost no per-LUN work while nothing happens.
    const key = viewKey(view);
    const portals = Object.values(doc.targets).flatMap((t) => [t.portals, t.ip_list]);
    const last = this.#recomputedFor;
    if (last !== undefined && key === last.key && portals.length === last.portals.length && portals.every((p, i) => p === last.portals[i])) return;
    this.#recomputedFor = { portals, key };
    for (const d of this.#disks.values()) this.#recomputeDisk(d, doc, view);
  }

  /** The disk's ALUA groups from the document and the cluster view; its initiators told when they moved. */
  #recomputeDisk(d: DiskState, doc: GatewayConfig, view: ClusterView): void {
    const target = doc.targets[d.disk.target];
    if (target === undefined) return;
    const groups = haAluaGroups(target, d.disk.id, d.disk.owner, view, this.gatewayName, this.#o.explicit === true);
    const sig = JSON.stringify(groups);
    if (sig === d.signature) return;
    const first = d.signature === '';
    d.groups = groups;
    d.signature = sig;
    if (!first) {
      this.#log.info({ disk: d.disk.id, groups: groups.map((g) => `${g.id}:${g.state}`).join(' ') }, 'ALUA state changed');
      this.#o.onAluaChanged(d.disk.id);
    }
  }

  /** A change of one disk (attached, or its config changed): its ALUA groups and lock, no other disk's. */
  #diskChanged(d: DiskState): void {
    const doc = this.#o.doc();
    if (doc === undefined) return;
    const view = this.#viewFor(d.disk.id);
    this.#recomputeDisk(d, doc, view);
    if (!this.#stopped && !this.#fenced) this.#actOn(d, view, doc);
  }

  /** Starts managing a disk: its write arbiter. */
  attach(disk: HaDisk, lock: ExclusiveLock | undefined): WriteArbiter {
    const d = new DiskState(this, disk, lock);
    lock?.manage((fenced) => {
      this.locksLost++;
      if (fenced) {
        void this.rejoin();
        return;
      }
      this.#log.warn({ disk: disk.id }, 'HA: exclusive lock lost');
      void this.#publish();
      this.#recompute();
    });
    this.#disks.set(disk.id, d);
    this.#diskChanged(d);
    return d;
  }

  /** The config of this disk changed (owner, target, portals): recompute it. */
  update(disk: HaDisk): void {
    const d = this.#disks.get(disk.id);
    if (d === undefined) return;
    d.disk = disk;
    this.#diskChanged(d);
  }

  async detach(diskId: string): Promise<void> {
    const d = this.#disks.get(diskId);
    if (d === undefined) return;
    if (d.lock?.held() === true) await this.release(d, 'disk removed from this gateway');
    this.#disks.delete(diskId);
    void this.#publish();
  }

  /**
   * A reset of the disk through this gateway: published for the peers, resolved once every
   * live peer has queued the unit attention (or after RESET_ACK_MS, logged).
   */
  async announceReset(diskId: string, reason: ResetReason): Promise<void> {
    const seq = this.#resets.announce(diskId, reason);
    const deadline = this.now() + RESET_ACK_MS;
    await this.#publish();
    for (;;) {
      const waiting = [...this.#peers.entries()]
        .filter(([, p]) => this.#present(p) && !ResetRelay.acked(p.record, this.gatewayName, this.incarnation, seq))
        .map(([name]) => name);
      if (waiting.length === 0 || this.#stopped) return;
      if (this.now() >= deadline) {
        this.#log.warn({ disk: diskId, peers: waiting }, 'HA: peers did not acknowledge a reset in time; their nexuses may miss its unit attention');
        return;
      }
      // The next board read, or a tick (which also keeps the process awake for the answer).
      let tick: NodeJS.Timeout | undefined;
      await Promise.race([this.#nextChange(), new Promise<void>((r) => (tick = setTimeout(r, 100)))]);
      clearTimeout(tick);
    }
  }

  /** The disk's ALUA groups as computed at the last change. */
  /** The gateway active/optimized for a disk now (undefined: none). */
  activeOf(diskId: string): string | undefined {
    const d = this.#disks.get(diskId);
    const target = d === undefined ? undefined : this.#o.doc()?.targets[d.disk.target];
    return d === undefined || target === undefined ? undefined : activeGateway(target, diskId, d.disk.owner, this.#viewFor(diskId));
  }

  groups(diskId: string): AluaGroup[] {
    return this.#disks.get(diskId)?.groups ?? [];
  }

  /**
   * Planned stop: take nothing more, hand every lock over (peers take them at once), keep
   * serving reads meanwhile. Resolves when every lock is released.
   */
  async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.#log.info('HA: leaving the group (maintenance): handing every LUN over');
    this.#recompute();
    await this.#publish();
    await Promise.all([...this.#disks.values()].filter((d) => d.lock?.held() === true).map((d) => this.release(d, 'gateway leaving')));
    await this.#publish();
  }

  /** Back from maintenance: a member again (locks are taken as writes or the preference ask). */
  async resume(): Promise<void> {
    if (!this.leaving || this.#stopped) return;
    this.leaving = false;
    this.#log.info('HA: back in the group (maintenance over)');
    this.#recompute();
    await this.#publish();
    this.#act();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#publishing?.catch(() => undefined);
    await this.#o.board.publish(this.#record()).catch(() => undefined);
    for (const w of this.#changeWaiters) w();
    this.#changeWaiters = [];
    await this.#o.board.close();
  }
}
