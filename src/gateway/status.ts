/**
 * Read-only view of the running gateway, for the REST API and metrics (which
 * import only this type, never the gateway itself).
 */
export interface SessionInfo {
  targetIqn: string;
  initiatorName: string;
  initiatorAlias: string;
  /** Initiator address (no port). */
  ipAddress: string;
  /** Portal the session came in on: "ip:port". */
  portal: string;
  tpgt: number;
  isid: string;
  tsih: number;
  loginTime: Date;
  /** CHAP, CHAP_MUTUAL or None. */
  authMethod: string;
  /** Operational keys negotiated at login, by their RFC 7143 names (HeaderDigest, MaxBurstLength, ...). */
  negotiated?: Record<string, string>;
}

/** A disk's health (`status` of GET /api/disk), from the service map (gateway/device-health.ts). */
export interface DeviceStatus {
  /** Online, "Degraded - cluster access failure" or "Degraded - excessive failovers". */
  state: string;
  /** The gateway holding the image's exclusive lock (newest lock_owner=true), "" when none. */
  lock_owner: string;
  /** Per gateway: cmd_timed_out_cnt, conn_lost_cnt, lock_lost_cnt. */
  gateways: Record<string, Record<string, number>>;
}

export interface GatewayStatus {
  /** This gateway's name (FQDN or the configured gateway_name). */
  readonly gatewayName: string;
  /** Whether the iSCSI listener of this gateway is up (what /api/_ping reports). */
  iscsiListening(): boolean;
  /** Logged-in sessions on this gateway. */
  sessions(): SessionInfo[];
  /** Non-loopback IP addresses of this host (plus 127.0.0.1 on a loopback-only host). */
  ipAddresses(): string[];
  /** Applies the latest config document now (read-your-writes for API calls). */
  reconcileNow(): Promise<void>;
  /**
   * The disk's health from the service map: undefined while the map has no entry for it.
   * Absent: the backstore has no service map (files); the API derives the state from the config.
   */
  deviceStatus?(disk: string): DeviceStatus | undefined;
  /** Whether this gateway is in maintenance (its LUNs handed to its peers). Absent: never. */
  inMaintenance?(): boolean;
  /**
   * Enters (true) or leaves maintenance: every LUN handed to a peer and the initiators asked to
   * log out, the portals staying up; leaving makes it a member again. Absent: not supported.
   */
  setMaintenance?(on: boolean): Promise<MaintenanceReport>;
  /** The counters the exporter reads (the console's `/api/_stats` too). Absent: no statistics. */
  metricsSnapshot?(): MetricsSnapshot;
}

export interface MaintenanceReport {
  maintenance: boolean;
  /** Sessions asked to log out (entering). */
  logoutsRequested: number;
  /** Disks whose exclusive lock this gateway still holds (0 once entered). */
  locksHeld: number;
}

/** The I/O counters of an LU as the exporter reads them (src/scsi/io-stats.ts LuIoStats). */
export interface LuIoView {
  readonly commands: Float64Array;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly inflight: number;
  readonly backstoreErrors: number;
  readonly buckets: Float64Array;
  readonly latencySum: Float64Array;
  clients(): ReadonlyMap<string, { readonly commands: number; readonly readBytes: number; readonly writeBytes: number }>;
}

/** One path (target port group) of a LUN: its ALUA state as this gateway reports it. */
export interface LunPathView {
  /** TPG tag (target port group id). */
  tpg: number;
  /** The gateway whose portal the group is ('' when unknown). */
  gateway: string;
  state: string;
}

export interface LunView {
  /** "pool/image" (upstream's lun_name). */
  name: string;
  target: string;
  lunId: number;
  sizeBytes: number;
  /** The gateway that is active/optimized for the LUN ('' when none). */
  owner: string;
  /** The portal IP of the owner (upstream's gw_owner label; '' when none). */
  ownerIp: string;
  paths: LunPathView[];
  io: LuIoView;
}

/** The iSCSI layer's counters (src/iscsi/stats.ts IscsiStats). */
export interface IscsiCountersView {
  readonly loginSuccesses: number;
  readonly loginFailures: ReadonlyMap<string, number>;
  readonly rejects: Float64Array;
  readonly headerDigestErrors: number;
  readonly dataDigestErrors: number;
  readonly framingErrors: number;
  readonly tmf: Float64Array;
}

/** Everything the metrics exporter reads of a gateway at scrape time (nothing is copied on the data path). */
export interface MetricsSnapshot {
  gatewayName: string;
  /** Targets this gateway serves (one TPG each, as upstream counts them). */
  targets: string[];
  luns: LunView[];
  /** Initiators of the ACLs of the served targets, with the LUNs (disk "pool/image" and LUN id) mapped to each. */
  clients: { client: string; target: string; luns: { name: string; lunId: number }[] }[];
  sessions: SessionInfo[];
  /** Open iSCSI connections, in any phase. */
  connections: number;
  /** Connections closed at accept by the per-address cap (iscsi_max_connections_per_ip). */
  connectionsRefused: number;
  iscsi: IscsiCountersView;
  /** Upper bounds of the latency buckets (seconds); the +Inf bucket follows. */
  latencyBucketsSeconds: readonly number[];
  /** Names of the operation classes in the order of LuIoView's arrays. */
  ioClasses: readonly string[];
  /** Reject reason and TMF names by code. */
  rejectNames: ReadonlyMap<number, string>;
  tmfNames: ReadonlyMap<number, string>;
  loginFailureReasons: readonly string[];
  lock: { acquired: number; released: number; lost: number };
  config: { epoch: number; reconciles: number; lastReconcileSeconds: number; reconcileSecondsSum: number; reconcileFailures: number };
  inMaintenance: boolean;
}
