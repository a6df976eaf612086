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
}

export interface MaintenanceReport {
  maintenance: boolean;
  /** Sessions asked to log out (entering). */
  logoutsRequested: number;
  /** Disks whose exclusive lock this gateway still holds (0 once entered). */
  locksHeld: number;
}
