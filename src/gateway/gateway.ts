/**
 * One gateway: the running iSCSI portals, logical units and sessions that the
 * cluster config document asks of this host. The store is the truth; this
 * class reconciles (desired state -> running state) whenever the document
 * changes, from any writer, with no restart and without touching sessions the
 * change does not concern (STYLE.md §4.10, "store as truth, gateways reconcile").
 *
 * A reconcile costs what the change touched, not what the gateway runs: the
 * store hands over frozen documents that share the objects of unchanged parts,
 * so a disk whose desired state is the same object as the running one's is
 * skipped (no HA update, no size check), and a session's LUN map is rebuilt
 * only when its target's entry or the set of running LUs changed.
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { BackstoreProvider, BackingStore } from '../backstore/backstore.js';
import type { GatewayConfig, TargetEntry } from '../config/schema.js';
import type { ConfigStore } from '../config/store.js';
import type { Settings } from '../config/settings-types.js';
import { authThrottleOptions } from '../config/settings.js';
import { IscsiServer } from '../iscsi/server.js';
import type { SessionParams } from '../iscsi/params.js';
import { LOGIN_FAILURE_REASONS, REJECT_REASON_NAMES, TMF_NAMES } from '../iscsi/stats.js';
import type { Nexus, ScsiPort } from '../scsi/command.js';
import { createScsiPort, notifyLunMapChanged, type LunMap } from '../scsi/device-server.js';
import { setInternalErrorLogger } from '../scsi/dispatch.js';
import { IO_CLASS_NAMES, LATENCY_BUCKETS_SECONDS } from '../scsi/io-stats.js';
import { LogicalUnit, type SharedPrStore, type TargetPortGroupRequest } from '../scsi/logical-unit.js';
import type { SenseReason } from '../scsi/sense.js';
import { forEachLimit } from '../util/limit.js';
import type { Logger } from '../util/log.js';
import { bareIp, DesiredStates, findClient, lunMapFor, type DesiredDisk } from './desired.js';
import { GatewayIscsiRegistry } from './iscsi-registry.js';
import type { Board } from './ha/board.js';
import { HaCoordinator, type HaOptions } from './ha/coordinator.js';
import { fenceLocalProcess, localIdentity } from './ha/fence.js';
import { DeviceHealthWatcher } from './device-health.js';
import { DirectoryWatches, FileSharedPrStore } from './pr-store.js';
import type { DeviceStatus, GatewayStatus, LunView, MaintenanceReport, MetricsSnapshot, SessionInfo } from './status.js';

interface RunningLun {
  disk: DesiredDisk;
  store: BackingStore;
  lu: LogicalUnit;
}

interface OpenPort {
  target: string;
  initiator: string;
  port: ScsiPort;
  /** Its LUN map (what the data path reads), made from these: */
  luns: Map<number, LogicalUnit>;
  /** the target's entry of the document it was made from (undefined: not served here), */
  targetEntry: TargetEntry | undefined;
  /** and Gateway.#lunsVersion then (LUs opened or closed since: made again). */
  lunsVersion: number;
}

/** How long to wait before retrying portals or disks that failed to come up. */
const RETRY_MS = 5000;
/** Logical units opened at once unless the backstore says otherwise (start-up with many LUNs: the opens overlap in the thread pool). */
const OPEN_CONCURRENCY = 16;
/** How long initiators get to log out when the gateway stops (within main.ts's 10 s stop deadline). */
const LOGOUT_GRACE_MS = 2000;

export interface GatewayOptions {
  settings: Settings;
  store: ConfigStore;
  backstore: BackstoreProvider;
  logger: Logger;
  /** The group's membership board (gateway/ha/board.ts), next to the config document. */
  board: Board;
  /** Ceph: the data-path client's address (how image locks name their owner). */
  dataAddress?: () => string | undefined;
  /** Ceph: removes a blocklist entry (this gateway's previous process). */
  unblocklist?: (address: string) => Promise<void>;
  /** Ceph: a new data client after this one was blocklisted. */
  rejoin?: () => Promise<void>;
  /**
   * File default: fence a peer on this host whose lease lapsed by ending its process, and
   * publish this process so the peers can do the same (gateway/ha/fence.ts).
   */
  fenceLocalPeers?: boolean;
  /**
   * The persistent-reservation state store of a disk, shared by every gateway exporting it
   * (Ceph: a RADOS object, gateway/pr-store-rados.ts). Default: the file store under
   * `<data_dir>/.state/pr`, shared by the gateways of one data_dir.
   */
  sharedPrStore?: (disk: DesiredDisk) => SharedPrStore;
}

/** The documents differ in `epoch` and `updated` only (every other top-level part is the same object). */
function onlyStampsMoved(a: GatewayConfig, b: GatewayConfig): boolean {
  const keys = Object.keys(b);
  if (keys.length !== Object.keys(a).length) return false;
  return keys.every((k) => k === 'epoch' || k === 'updated' || (Object.hasOwn(a, k) && a[k] === b[k]));
}

function sameLunMap(a: ReadonlyMap<number, LogicalUnit>, b: ReadonlyMap<number, LogicalUnit>): boolean {
  if (a.size !== b.size) return false;
  for (const [lun, lu] of a) if (b.get(lun) !== lu) return false;
  return true;
}

export class Gateway implements GatewayStatus {
  readonly gatewayName: string;
  readonly #settings: Settings;
  readonly #store: ConfigStore;
  readonly #backstore: BackstoreProvider;
  readonly #log: Logger;
  readonly #iscsi: IscsiServer;
  #doc: GatewayConfig | undefined;
  readonly #portals = new Map<string, { ip: string; port: number }>();
  readonly #luns = new Map<string, RunningLun>();
  /** Moves whenever #luns gains or loses an LU (the sessions' LUN maps are made again). */
  #lunsVersion = 0;
  readonly #ports = new Set<OpenPort>();
  readonly #desired: DesiredStates;
  /**
   * The desired disks of the last reconcile that brought every one up: compute() gives the same
   * Map again when no desired disk changed, and the disk loops (1, 5) are then skipped.
   */
  #appliedDisks: Map<string, DesiredDisk> | undefined;
  #reconciling: Promise<void> = Promise.resolve();
  #pendingDoc: GatewayConfig | undefined;
  #stopWatch: (() => void) | undefined;
  #stopped = false;
  /** Pending retry of portals or disks that could not be brought up (address not yet there, port busy, image missing). */
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #singleGatewayWarned = new Set<string>();
  readonly #ha: HaCoordinator;
  readonly #sharedPrStore: (disk: DesiredDisk) => SharedPrStore;
  /** The document being applied (LUs open before #doc switches to it). */
  #applying: GatewayConfig | undefined;
  /** Reconciles done (and failed) and their durations in seconds, for the metrics. */
  readonly #reconcileStats = { count: 0, failures: 0, last: 0, sum: 0 };
  /** Device health from the service map (backstores that have one: rbd). */
  readonly #health: DeviceHealthWatcher | undefined;
  readonly deviceStatus?: (disk: string) => DeviceStatus | undefined;

  constructor(opts: GatewayOptions) {
    this.#settings = opts.settings;
    this.#store = opts.store;
    this.#backstore = opts.backstore;
    this.#log = opts.logger;
    this.gatewayName = opts.settings.gateway_name;
    const serviceMap = opts.backstore.deviceServiceStatus;
    if (serviceMap !== undefined) {
      const health = new DeviceHealthWatcher({
        read: serviceMap,
        intervalSec: opts.settings.status_check_interval,
        thresholds: { lockLostThreshold: opts.settings.lock_lost_cnt_threshhold, stableResetCount: opts.settings.stable_state_reset_count },
        logger: opts.logger.child({ component: 'device-health' }),
      });
      this.#health = health;
      this.deviceStatus = (disk) => health.tracker.status(disk);
    }
    this.#desired = new DesiredStates(this.gatewayName, opts.settings.iscsi_port);
    const prDir = join(opts.settings.data_dir, '.state', 'pr');
    // One fs.watch on the directory for every LU's store (not one each: 1,000 LUNs, 1,000 wake-ups per file event).
    const watches = new DirectoryWatches();
    this.#sharedPrStore = opts.sharedPrStore ?? ((disk) => new FileSharedPrStore({ dir: prDir, diskId: disk.id, watches }));
    const registry = new GatewayIscsiRegistry({
      doc: () => this.#currentDoc(),
      gatewayName: this.gatewayName,
      iscsiPort: opts.settings.iscsi_port,
      targetDefaults: opts.settings.target_defaults,
      openPort: (target, nexus) => this.#openPort(target, nexus),
    });
    const scsiLog = opts.logger.child({ component: 'scsi' });
    setInternalErrorLogger((err, command) => scsiLog.error({ err, command }, 'internal error in a SCSI command'));
    this.#iscsi = new IscsiServer({
      registry,
      logger: opts.logger.child({ component: 'iscsi' }),
      authThrottle: authThrottleOptions(opts.settings),
      maxConnectionsPerAddress: opts.settings.iscsi_max_connections_per_ip,
    });
    this.#ha = new HaCoordinator({
      gatewayName: this.gatewayName,
      board: opts.board,
      leaseMs: opts.settings.ha_lease_ms,
      explicit: opts.settings.alua_failover_type === 'explicit',
      doc: () => this.#applying ?? this.#doc,
      log: opts.logger.child({ component: 'ha' }),
      ...(opts.dataAddress !== undefined ? { dataAddress: opts.dataAddress } : {}),
      ...(opts.unblocklist !== undefined ? { unblocklist: opts.unblocklist } : {}),
      ...(opts.rejoin !== undefined ? { rejoin: opts.rejoin } : {}),
      ...this.#peerFencing(opts),
      onAluaChanged: (diskId) => this.#luns.get(diskId)?.lu.aluaChanged(),
      onPeerReset: (diskId, reason) => void this.#luns.get(diskId)?.lu.reset(reason, true),
      onFenced: () => {
        const dropped = this.#iscsi.dropSessions(() => true);
        if (dropped > 0) this.#log.warn({ dropped }, 'sessions dropped: this gateway was fenced');
      },
    });
  }

  #peerFencing(opts: GatewayOptions): Pick<HaOptions, 'identity' | 'fencePeer'> {
    const self = opts.fenceLocalPeers === true ? localIdentity() : undefined;
    if (self === undefined) return {};
    // A killed peer exits within milliseconds; one stuck inside a write gets a lease to finish it.
    const waitMs = opts.settings.ha_lease_ms;
    return { identity: self, fencePeer: (id) => fenceLocalProcess(id, { self, waitMs }) };
  }

  /** Lock acquisitions and hand-overs by this gateway since start (HA). */
  get lockTransitions(): number {
    return this.#ha.transitions;
  }

  #currentDoc(): GatewayConfig {
    if (this.#doc === undefined) throw new Error('gateway not started');
    return this.#doc;
  }

  /** Loads the document, applies it, then follows every change. */
  async start(): Promise<void> {
    await this.#ha.start();
    const doc = await this.#store.snapshot();
    await this.#apply(doc);
    this.#stopWatch = this.#store.watch((d) => {
      this.#schedule(d);
    });
    this.#health?.start();
  }

  /** Serialises reconciles; a burst of changes collapses into the newest document. */
  #schedule(doc: GatewayConfig): Promise<void> {
    this.#pendingDoc = doc;
    this.#reconciling = this.#reconciling.then(async () => {
      const next = this.#pendingDoc;
      this.#pendingDoc = undefined;
      if (next === undefined || this.#stopped) return;
      // Same epoch: nothing new (the watch echo of a change reconcileNow() already applied).
      if (this.#doc !== undefined && next.epoch === this.#doc.epoch) return;
      await this.#apply(next);
    });
    return this.#reconciling;
  }

  /**
   * Applies the store's current document now (read-your-writes for the API). `full`: also
   * re-reads every disk's size (SIGHUP: an image resized outside the gateway).
   */
  async reconcileNow(full = false): Promise<void> {
    const doc = await this.#store.snapshot();
    this.#pendingDoc = doc;
    this.#reconciling = this.#reconciling.then(async () => {
      const next = this.#pendingDoc ?? doc;
      this.#pendingDoc = undefined;
      // Already applied (the store's watch delivered this very document first): nothing to do.
      if (this.#stopped || (next === this.#doc && !full)) return;
      await this.#apply(next, full);
    });
    return this.#reconciling;
  }

  async #apply(doc: GatewayConfig, full = false): Promise<void> {
    this.#applying = doc;
    const t0 = performance.now();
    try {
      await this.#applyUnsafe(doc, full);
    } catch (err) {
      // A reconcile never takes the gateway down: log and keep serving what runs.
      this.#reconcileStats.failures++;
      this.#log.error({ err }, 'reconcile failed');
    } finally {
      this.#applying = undefined;
      const seconds = (performance.now() - t0) / 1000;
      this.#reconcileStats.count++;
      this.#reconcileStats.last = seconds;
      this.#reconcileStats.sum += seconds;
    }
  }

  /** Re-applies the current document later when something wanted could not be brought up. */
  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#stopped) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const doc = this.#doc;
      if (doc === undefined || this.#stopped) return;
      this.#reconciling = this.#reconciling.then(() => this.#apply(doc));
    }, RETRY_MS);
    this.#retryTimer.unref();
  }

  async #applyUnsafe(doc: GatewayConfig, fullAsked: boolean): Promise<void> {
    // A new epoch whose only change is its stamps: an entry was touched with the values it had
    // (resize and rollback touch `updated`, which has whole seconds): re-read every size.
    const full = fullAsked || (this.#doc !== undefined && doc !== this.#doc && onlyStampsMoved(this.#doc, doc));
    const want = this.#desired.compute(doc);
    let incomplete = false;
    for (const iqn of want.targets) {
      const gateways = Object.keys(doc.targets[iqn]?.portals ?? {}).length;
      if (gateways < 2 && !this.#singleGatewayWarned.has(iqn)) {
        this.#singleGatewayWarned.add(iqn);
        this.#log.warn({ target: iqn, gateways }, 'target has a single gateway: no path redundancy (add a second gateway for HA)');
      } else if (gateways >= 2) {
        this.#singleGatewayWarned.delete(iqn);
      }
    }
    // 1. Logical units: open new disks before the doc switches, so a login never sees a LUN without its LU.
    // A disk whose desired state is the object it runs with is unchanged: nothing to do.
    const disksUnchanged = !full && want.disks === this.#appliedDisks;
    this.#appliedDisks = undefined;
    const opening: DesiredDisk[] = [];
    for (const disk of disksUnchanged ? [] : want.disks.values()) {
      const running = this.#luns.get(disk.id);
      if (running === undefined) {
        opening.push(disk);
      } else if (running.disk !== disk || full) {
        // Its entry changed (resize and snapshot rollback touch it) or SIGHUP: the image's size.
        const resized = running.disk.source !== disk.source || full;
        running.disk = disk;
        this.#ha.update(disk); // ALUA follows the owner preference, the portals and the cluster
        if (resized) await this.#checkSize(running);
      }
    }
    const lunsOpened = await this.#openLuns(opening);
    if (!lunsOpened) incomplete = true;
    // 2. Switch to the new document (registry and LUN maps read it from now on).
    const old = this.#doc;
    this.#doc = doc;
    // 3. Sessions the change removes: target gone from this gateway, client gone from an ACL target.
    if (old !== undefined) this.#dropRemovedSessions(doc);
    // 4. LUN map changes of open sessions: REPORTED LUNS DATA HAS CHANGED.
    for (const p of this.#ports) this.#refreshPort(p);
    // 5. Close LUs no longer wanted.
    for (const [id, running] of disksUnchanged ? [] : this.#luns) {
      if (!want.disks.has(id)) {
        this.#luns.delete(id);
        this.#lunsVersion++;
        await this.#ha.detach(id);
        await running.lu.close().catch((err: unknown) => this.#log.warn({ err, disk: id }, 'closing logical unit failed'));
        await running.store.close().catch((err: unknown) => this.#log.warn({ err, disk: id }, 'closing backstore failed'));
        this.#log.info({ disk: id }, 'logical unit removed');
      }
    }
    if (lunsOpened) this.#appliedDisks = want.disks;
    // 6. Portals: targets, LUNs and ACLs exist before the portal opens (ceph-iscsi
    // gateway.py: "prevents clients from logging in too early").
    const wanted = new Map(want.portals.map((p) => [`${p.ip}:${p.port}`, p]));
    for (const [key, p] of this.#portals) {
      if (!wanted.has(key)) {
        this.#portals.delete(key);
        await this.#iscsi.unlisten(p.ip, p.port).catch((err: unknown) => this.#log.warn({ err, portal: key }, 'closing portal failed'));
        this.#log.info({ portal: key }, 'portal closed');
      }
    }
    for (const [key, p] of wanted) {
      if (this.#portals.has(key)) continue;
      try {
        await this.#iscsi.listen(p.ip, p.port);
        this.#portals.set(key, p);
        this.#log.info({ portal: key }, 'portal listening');
      } catch (err) {
        this.#log.error({ err, portal: key, retryInMs: RETRY_MS }, 'cannot listen on portal (is the address on this host? is the port free?)');
        incomplete = true;
      }
    }
    if (incomplete) this.#scheduleRetry();
  }

  /** Opens the disk's backstore and logical unit; false (logged) when it cannot yet. */
  async #openLun(disk: DesiredDisk): Promise<boolean> {
    let store: BackingStore;
    try {
      store = await this.#backstore.open(disk.pool, disk.image);
    } catch (err) {
      // Start degraded rather than crash-loop: the LUN is reported missing until the image appears.
      this.#log.error({ err, disk: disk.id }, 'cannot open disk image; LUN not exported');
      return false;
    }
    // One persistent-reservation state per disk for every gateway exporting it (tcmu-runner
    // keeps it in the RBD image for the same reason): registered through one gateway, seen through all.
    if (store.exclusiveLock === undefined) store.fence = () => this.#ha.leaseValid(); // file default: no lock, the lease fences
    const lu = new LogicalUnit({
      name: disk.id,
      backstore: store,
      wwn: disk.wwn,
      aluaGroups: () => this.#ha.groups(disk.id),
      writeArbiter: this.#ha.attach(disk, store.exclusiveLock),
      aluaAccess: this.#settings.alua_failover_type,
      setTargetPortGroups: (requests) => this.#setTargetPortGroups(disk.id, requests),
      sharedPr: this.#sharedPrStore(disk),
      peers: { reset: (reason) => this.#ha.announceReset(disk.id, reason) },
    });
    try {
      await lu.open();
    } catch (err) {
      this.#log.error({ err, disk: disk.id }, 'cannot open logical unit; LUN not exported');
      await this.#ha.detach(disk.id);
      await lu.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      return false;
    }
    this.#luns.set(disk.id, { disk, store, lu });
    this.#lunsVersion++;
    this.#log.debug({ disk: disk.id, sizeBytes: store.sizeBytes }, 'logical unit ready');
    return true;
  }

  /**
   * Opens these disks' LUs, OPEN_CONCURRENCY (or the backstore's openConcurrency) at a time; false when one could not be opened yet.
   * One log line for the batch (a start with 1,000 LUNs would otherwise log 1,000; each LU's
   * own line is at debug level).
   */
  async #openLuns(disks: readonly DesiredDisk[]): Promise<boolean> {
    if (disks.length === 0) return true;
    const started = performance.now();
    let ok = true;
    let opened = 0;
    await forEachLimit(
      disks,
      this.#backstore.openConcurrency ?? OPEN_CONCURRENCY,
      async (disk) => {
        if (await this.#openLun(disk)) opened++;
        else ok = false;
      },
      () => this.#stopped,
    );
    const fields = { opened, failed: disks.length - opened, ms: Math.round(performance.now() - started) };
    if (disks.length === 1 && opened === 1) this.#log.info({ disk: disks[0]!.id, ...fields }, 'logical unit ready');
    else this.#log.info(fields, 'logical units ready');
    return ok;
  }

  /** SET TARGET PORT GROUPS (explicit ALUA): the group asked active/optimized gets the LUN's lock. */
  #setTargetPortGroups(diskId: string, requests: TargetPortGroupRequest[]): SenseReason | undefined | Promise<SenseReason | undefined> {
    const ao = requests.filter((r) => r.state === 0);
    if (ao.length === 0) return undefined; // one AO group per LUN: the others are non-optimized already
    if (ao.length > 1) return 'INVALID_FIELD_IN_PARAMETER_LIST';
    const running = this.#luns.get(diskId);
    const target = running !== undefined ? this.#doc?.targets[running.disk.target] : undefined;
    const ip = target?.ip_list[ao[0]!.groupId - 1];
    const gateway = ip === undefined ? undefined : Object.entries(target?.portals ?? {}).find(([, p]) => p.portal_ip_addresses.some((x) => bareIp(x) === bareIp(ip)))?.[0];
    if (gateway === undefined) return 'INVALID_FIELD_IN_PARAMETER_LIST';
    return this.#ha.setActive(diskId, gateway);
  }

  async #checkSize(running: RunningLun): Promise<void> {
    const size = await this.#backstore.imageSize(running.disk.pool, running.disk.image);
    if (size !== undefined && size !== running.store.sizeBytes) {
      await running.store.resize(size);
      running.lu.capacityChanged();
      this.#log.info({ disk: running.disk.id, sizeBytes: size }, 'capacity changed');
    }
  }

  #lunMap(t: TargetEntry | undefined, initiator: string): Map<number, LogicalUnit> {
    const out = new Map<number, LogicalUnit>();
    if (t === undefined) return out;
    for (const [lun, diskId] of lunMapFor(t, initiator)) {
      const running = this.#luns.get(diskId);
      if (running !== undefined) out.set(lun, running.lu);
    }
    return out;
  }

  /** The target's entry when this gateway serves it, else undefined. */
  #servedTarget(target: string): TargetEntry | undefined {
    const t = this.#doc?.targets[target];
    return t !== undefined && t.portals[this.gatewayName] !== undefined ? t : undefined;
  }

  /**
   * Makes the port's LUN map again when what it was made from changed (its target's entry, the
   * running LUs), and raises REPORTED LUNS DATA HAS CHANGED when the map is not the same.
   */
  #refreshPort(p: OpenPort): void {
    const t = this.#servedTarget(p.target);
    if (t === p.targetEntry && p.lunsVersion === this.#lunsVersion) return;
    const luns = this.#lunMap(t, p.initiator);
    p.targetEntry = t;
    p.lunsVersion = this.#lunsVersion;
    if (sameLunMap(p.luns, luns)) return;
    p.luns = luns;
    notifyLunMapChanged(p.port);
  }

  #openPort(target: string, nexus: Nexus): ScsiPort {
    const t = this.#servedTarget(target);
    // The data path reads the map the last reconcile made (LUN lookups are on the hot path).
    const lunMap: LunMap = {
      get: (lun: number) => entry.luns.get(lun),
      luns: () => [...entry.luns.keys()].sort((a, b) => a - b),
    };
    const port = createScsiPort(nexus, lunMap);
    const entry: OpenPort = { target, initiator: nexus.initiatorName, port, luns: this.#lunMap(t, nexus.initiatorName), targetEntry: t, lunsVersion: this.#lunsVersion };
    this.#ports.add(entry);
    // Wrap close() so the gateway forgets the port with the session.
    const close = port.close.bind(port);
    port.close = () => {
      this.#ports.delete(entry);
      close();
    };
    return port;
  }

  #dropRemovedSessions(doc: GatewayConfig): void {
    const dropped = this.#iscsi.dropSessions((s) => {
      const t = doc.targets[s.targetName];
      if (t === undefined || t.portals[this.gatewayName] === undefined) return true;
      if (t.acl_enabled && findClient(t, s.initiatorName) === undefined) return true;
      return false;
    });
    if (dropped > 0) this.#log.info({ dropped }, 'sessions closed by a configuration change');
  }

  /** What the metrics exporter reads, at scrape time (src/metrics/exporter.ts). */
  metricsSnapshot(): MetricsSnapshot {
    const doc = this.#doc;
    const luns: LunView[] = [];
    for (const [id, r] of this.#luns) {
      const target = doc?.targets[r.disk.target];
      const owner = this.#ha.activeOf(id) ?? '';
      const gatewayOfIp = (ip: string): string => {
        for (const [name, p] of Object.entries(target?.portals ?? {})) {
          if ((p.portal_ip_addresses ?? []).some((a) => bareIp(a) === bareIp(ip))) return name;
        }
        return '';
      };
      const paths = this.#ha.groups(id).map((g) => ({ tpg: g.id, gateway: gatewayOfIp(target?.ip_list[g.id - 1] ?? ''), state: g.state }));
      const ownerIp = owner === '' ? '' : bareIp(target?.portals[owner]?.portal_ip_addresses?.[0] ?? '');
      luns.push({ name: id, target: r.disk.target, lunId: r.disk.lunId, sizeBytes: r.store.sizeBytes, owner, ownerIp, paths, io: r.lu.stats });
    }
    const served = Object.entries(doc?.targets ?? {}).filter(([, t]) => t.portals[this.gatewayName] !== undefined);
    const clients = served.flatMap(([iqn, t]) =>
      Object.entries(t.clients).map(([client, c]) => ({
        client,
        target: iqn,
        luns: Object.entries(c.luns).map(([name, ref]) => ({ name, lunId: ref.lun_id })),
      })),
    );
    return {
      gatewayName: this.gatewayName,
      targets: served.map(([iqn]) => iqn),
      luns,
      clients,
      sessions: this.sessions(),
      connections: this.#iscsi.connectionCount(),
      connectionsRefused: this.#iscsi.refusedConnections,
      iscsi: this.#iscsi.stats,
      latencyBucketsSeconds: LATENCY_BUCKETS_SECONDS,
      ioClasses: IO_CLASS_NAMES,
      rejectNames: REJECT_REASON_NAMES,
      tmfNames: TMF_NAMES,
      loginFailureReasons: LOGIN_FAILURE_REASONS,
      lock: { acquired: this.#ha.locksAcquired, released: this.#ha.locksReleased, lost: this.#ha.locksLost },
      config: {
        epoch: doc?.epoch ?? 0,
        reconciles: this.#reconcileStats.count,
        lastReconcileSeconds: this.#reconcileStats.last,
        reconcileSecondsSum: this.#reconcileStats.sum,
        reconcileFailures: this.#reconcileStats.failures,
      },
      inMaintenance: this.#ha.leaving,
    };
  }

  iscsiListening(): boolean {
    return this.#iscsi.listening();
  }

  sessions(): SessionInfo[] {
    return this.#iscsi.sessions().map((s) => ({
      targetIqn: s.targetName,
      initiatorName: s.initiatorName,
      initiatorAlias: s.initiatorAlias,
      ipAddress: s.remoteAddress.replace(/^::ffff:/, ''),
      portal: `${s.localAddress.replace(/^::ffff:/, '')}:${s.localPort}`,
      tpgt: s.tpgt,
      isid: s.isid,
      tsih: s.tsih,
      loginTime: s.loginTime,
      authMethod: s.authMethod === 'CHAP' ? (s.mutual ? 'CHAP_MUTUAL' : 'CHAP') : 'None',
      ...(s.params !== null ? { negotiated: negotiatedKeys(s.params) } : {}),
    }));
  }

  ipAddresses(): string[] {
    const out: string[] = [];
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue;
        out.push(a.address);
      }
    }
    return out;
  }

  /** Every gateway of the targets this one knows of (the HA board's members). */
  memberNames(): string[] {
    const names = new Set<string>([this.gatewayName]);
    for (const t of Object.values((this.#applying ?? this.#doc)?.targets ?? {})) for (const g of Object.keys(t.portals)) names.add(g);
    return [...names];
  }

  /** Names of the disks whose logical unit is running here (for status and metrics). */
  runningDisks(): string[] {
    return [...this.#luns.keys()];
  }

  inMaintenance(): boolean {
    return this.#ha.leaving;
  }

  /**
   * Maintenance without a stop (REST `PUT /api/maintenance`, `gwcli maintenance`): every LUN is
   * handed to a peer, then the initiators are asked to log out (they go on through the peers'
   * paths; this gateway's group reports unavailable until it leaves maintenance).
   */
  async setMaintenance(on: boolean): Promise<MaintenanceReport> {
    let logoutsRequested = 0;
    if (on) {
      await this.#ha.leave();
      logoutsRequested = this.#iscsi.requestLogout(Math.ceil(LOGOUT_GRACE_MS / 1000));
      this.#log.info({ logoutsRequested }, 'maintenance: LUNs handed over, initiators asked to log out');
    } else {
      await this.#ha.resume();
    }
    return { maintenance: this.#ha.leaving, logoutsRequested, locksHeld: [...this.#luns.values()].filter((l) => l.store.exclusiveLock?.held() === true).length };
  }

  /**
   * Stops the gateway. Planned maintenance first: every LUN is handed to a peer (its lock
   * released, the peer AO) before the portals close, so initiators move without an error.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopWatch?.();
    await this.#health?.stop();
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#reconciling.catch(() => undefined);
    await this.#ha.leave().catch((err: unknown) => this.#log.warn({ err }, 'handing the LUNs over failed'));
    // Then the initiators are asked to log out (Async Message, RFC 7143 §11.9.1): they finish or
    // retry their commands on another path rather than seeing the connection reset.
    await this.#iscsi.close({ logoutGraceMs: LOGOUT_GRACE_MS });
    // Several at once: an RBD close is a few OSD round trips (release the lock, unwatch), and
    // one at a time 1,000 of them outlasted the shutdown deadline; the process then exited
    // with its watches registered, and the next start waited on them (62 s).
    await forEachLimit([...this.#luns], this.#backstore.openConcurrency ?? OPEN_CONCURRENCY, async ([id, running]) => {
      await running.lu.close().catch((err: unknown) => this.#log.warn({ err, disk: id }, 'closing logical unit failed'));
      await running.store.close().catch((err: unknown) => this.#log.warn({ err, disk: id }, 'closing backstore failed'));
    });
    this.#luns.clear();
    this.#appliedDisks = undefined;
    this.#portals.clear();
    await this.#ha.stop();
  }
}

/** A session's negotiated parameters as RFC 7143 key=value text (what `iscsiadm -m session -P 2` shows). */
function negotiatedKeys(p: Readonly<SessionParams>): Record<string, string> {
  const yn = (b: boolean): string => (b ? 'Yes' : 'No');
  return {
    HeaderDigest: p.headerDigest ? 'CRC32C' : 'None',
    DataDigest: p.dataDigest ? 'CRC32C' : 'None',
    MaxConnections: String(p.maxConnections),
    InitialR2T: yn(p.initialR2T),
    ImmediateData: yn(p.immediateData),
    MaxRecvDataSegmentLength: String(p.targetMaxRecvDataSegmentLength),
    MaxXmitDataSegmentLength: String(p.initiatorMaxRecvDataSegmentLength),
    MaxBurstLength: String(p.maxBurstLength),
    FirstBurstLength: String(p.firstBurstLength),
    DefaultTime2Wait: String(p.defaultTime2Wait),
    DefaultTime2Retain: String(p.defaultTime2Retain),
    MaxOutstandingR2T: String(p.maxOutstandingR2T),
    DataPDUInOrder: yn(p.dataPDUInOrder),
    DataSequenceInOrder: yn(p.dataSequenceInOrder),
    ErrorRecoveryLevel: String(p.errorRecoveryLevel),
  };
}
