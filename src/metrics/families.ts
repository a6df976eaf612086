/**
 * The series of the Prometheus exporter, built at scrape time from a MetricsSnapshot (the
 * gateway's running state and the plain counters its data path keeps). Every family is a
 * prom-client custom metric: prom-client writes the exposition text (HELP, TYPE, label
 * escaping); nothing is counted here. docs/metrics.md lists every series.
 */
import type { MetricsSnapshot } from '../gateway/status.js';
import { authThrottleStats, type AuthThrottleStats } from '../util/auth-throttle.js';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
export type Labels = Record<string, string | number>;
export interface Sample {
  labels: Labels;
  value: number;
  /** For histogram/summary parts: the full series name (name_bucket, name_sum, name_count). */
  metricName?: string;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  samples(s: MetricsSnapshot): Sample[];
}

const family = (name: string, type: MetricType, help: string, samples: (s: MetricsSnapshot) => Sample[]): Family => ({ name, type, help, samples });

/** A sample per LUN: `value(lun)` with gw_name and lun_name. */
function perLun(value: (lun: MetricsSnapshot['luns'][number]) => number): (s: MetricsSnapshot) => Sample[] {
  return (s) => s.luns.map((l) => ({ labels: { gw_name: s.gatewayName, lun_name: l.name }, value: value(l) }));
}

/** A sample per (client, LUN) that has sent commands here: `value(counters)`. */
function perClientLun(value: (c: { commands: number; readBytes: number; writeBytes: number }) => number): (s: MetricsSnapshot) => Sample[] {
  return (s) => {
    const out: Sample[] = [];
    for (const l of s.luns) {
      for (const [client, c] of l.io.clients()) out.push({ labels: { gw_name: s.gatewayName, client_iqn: client, lun_name: l.name }, value: value(c) });
    }
    return out;
  };
}

/** A sample per LUN and operation class (read/write/other) of a per-class array. */
function perLunOp(pick: (io: MetricsSnapshot['luns'][number]['io']) => Float64Array): (s: MetricsSnapshot) => Sample[] {
  return (s) =>
    s.luns.flatMap((l) => s.ioClasses.map((op, i) => ({ labels: { gw_name: s.gatewayName, lun_name: l.name, op }, value: pick(l.io)[i] ?? 0 })));
}

function latencyHistogram(s: MetricsSnapshot): Sample[] {
  const out: Sample[] = [];
  const name = 'ceph_iscsi_lun_latency_seconds';
  const nb = s.latencyBucketsSeconds.length + 1;
  for (const l of s.luns) {
    s.ioClasses.forEach((op, c) => {
      const base = { gw_name: s.gatewayName, lun_name: l.name, op };
      let cumulative = 0;
      for (let b = 0; b < nb; b++) {
        cumulative += l.io.buckets[c * nb + b] ?? 0;
        const le = b < nb - 1 ? String(s.latencyBucketsSeconds[b]) : '+Inf';
        out.push({ metricName: `${name}_bucket`, labels: { ...base, le }, value: cumulative });
      }
      out.push({ metricName: `${name}_sum`, labels: base, value: l.io.latencySum[c] ?? 0 });
      out.push({ metricName: `${name}_count`, labels: base, value: cumulative });
    });
  }
  return out;
}

/** Labels of every login that reached a target of this gateway (normal sessions), per target and portal. */
function sessionsPerPortal(s: MetricsSnapshot): Sample[] {
  const counts = new Map<string, { target: string; portal: string; n: number }>();
  for (const x of s.sessions) {
    if (x.targetIqn === '') continue; // discovery
    const key = `${x.targetIqn}\n${x.portal}`;
    const e = counts.get(key) ?? { target: x.targetIqn, portal: x.portal, n: 0 };
    e.n++;
    counts.set(key, e);
  }
  return [...counts.values()].map((e) => ({ labels: { gw_name: s.gatewayName, target: e.target, portal: e.portal }, value: e.n }));
}

function clientLogin(s: MetricsSnapshot): Sample[] {
  const loggedIn = new Set(s.sessions.filter((x) => x.targetIqn !== '').map((x) => x.initiatorName));
  const names = new Set([...s.clients.map((c) => c.client), ...loggedIn]);
  return [...names].sort().map((client) => ({ labels: { gw_name: s.gatewayName, client_iqn: client }, value: loggedIn.has(client) ? 1 : 0 }));
}

function clientLun(s: MetricsSnapshot): Sample[] {
  const seen = new Set<string>();
  const out: Sample[] = [];
  const add = (client: string, lun: string, id: number): void => {
    const key = `${client}\n${lun}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ labels: { gw_name: s.gatewayName, client_iqn: client, lun_name: lun }, value: id });
  };
  for (const c of s.clients) for (const l of c.luns) add(c.client, l.name, l.lunId);
  // Targets without ACLs: every initiator that sent commands to a LUN.
  for (const l of s.luns) for (const client of l.io.clients().keys()) add(client, l.name, l.lunId);
  return out;
}

const KNOWN_AUTH_REASONS: Record<string, readonly string[]> = { iscsi: ['chap', 'acl'], api: ['password'] };

/** The guessing-protection throttles of this process, by service name. */
function throttles(): [string, AuthThrottleStats][] {
  return Object.entries(authThrottleStats).sort(([a], [b]) => a.localeCompare(b));
}

function perThrottle(value: (t: AuthThrottleStats) => number): (s: MetricsSnapshot) => Sample[] {
  return (s) => throttles().map(([service, t]) => ({ labels: { gw_name: s.gatewayName, service }, value: value(t) }));
}

/** Every family, in exposition order. ceph_iscsi_scrape_duration_seconds is added by the exporter. */
export const FAMILIES: readonly Family[] = [
  // ---- upstream rbd-target-gw names (docs/metrics.md "Upstream compatibility") ----
  family('ceph_iscsi_gateway_tpg_total', 'untyped', 'Upstream name: target portal groups of this gateway (one per target); see ceph_iscsi_gateway_tpgs', (s) =>
    s.targets.length === 0 ? [] : [{ labels: { gw_iqn: s.targets[0] ?? '' }, value: s.targets.length }],
  ),
  family('ceph_iscsi_lun_mapped', 'gauge', 'LUN exported by this gateway (1); gw_owner is the portal IP of the active/optimized gateway', (s) =>
    s.luns.map((l) => ({ labels: { lun_name: l.name, gw_name: s.gatewayName, gw_owner: l.ownerIp }, value: 1 })),
  ),
  family('ceph_iscsi_lun_size_bytes', 'gauge', 'LUN size in bytes', perLun((l) => l.sizeBytes)),
  family('ceph_iscsi_lun_iops', 'untyped', 'Upstream name: SCSI commands of a client on a LUN since start (a counter; see ceph_iscsi_client_commands_total)', perClientLun((c) => c.commands)),
  family('ceph_iscsi_lun_read_bytes', 'untyped', 'Upstream name: bytes read by a client from a LUN (a counter; see ceph_iscsi_client_read_bytes_total)', perClientLun((c) => c.readBytes)),
  family('ceph_iscsi_lun_write_bytes', 'untyped', 'Upstream name: bytes written by a client to a LUN (a counter; see ceph_iscsi_client_write_bytes_total)', perClientLun((c) => c.writeBytes)),
  family('ceph_iscsi_client_login', 'gauge', 'Client (ACL entry or logged-in initiator) logged in to this gateway (1) or not (0)', clientLogin),
  family('ceph_iscsi_client_lun', 'gauge', 'LUN id of a LUN mapped to a client', clientLun),

  // ---- typed counters of the data path ----
  family('ceph_iscsi_gateway_tpgs', 'gauge', 'Target portal groups (targets) served by this gateway', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.targets.length }]),
  family('ceph_iscsi_lun_commands_total', 'counter', 'SCSI commands executed on a LUN, by operation class (not those refused by a gate before execution)', perLunOp((io) => io.commands)),
  family('ceph_iscsi_lun_read_bytes_total', 'counter', 'Bytes read from a LUN (READ commands Data-In)', perLun((l) => l.io.readBytes)),
  family('ceph_iscsi_lun_write_bytes_total', 'counter', 'Bytes written to a LUN (Data-Out of medium-changing commands that completed GOOD)', perLun((l) => l.io.writeBytes)),
  family('ceph_iscsi_client_commands_total', 'counter', 'SCSI commands of a client on a LUN', perClientLun((c) => c.commands)),
  family('ceph_iscsi_client_read_bytes_total', 'counter', 'Bytes read by a client from a LUN', perClientLun((c) => c.readBytes)),
  family('ceph_iscsi_client_write_bytes_total', 'counter', 'Bytes written by a client to a LUN', perClientLun((c) => c.writeBytes)),
  family('ceph_iscsi_lun_latency_seconds', 'histogram', 'Device-server latency of SCSI commands (execution start after Data-Out to status), by operation class', latencyHistogram),
  family('ceph_iscsi_lun_queue_depth', 'gauge', 'SCSI commands executing on a LUN now', perLun((l) => l.io.inflight)),
  family('ceph_iscsi_lun_backstore_errors_total', 'counter', 'Commands that failed in the backstore (I/O error, timeout, lock lost)', perLun((l) => l.io.backstoreErrors)),

  // ---- ALUA and exclusive lock ----
  family('ceph_iscsi_lun_alua_state', 'gauge', 'ALUA access state of each path (target port group) of a LUN: 1 for the state it is in', (s) =>
    s.luns.flatMap((l) => l.paths.map((p) => ({ labels: { gw_name: s.gatewayName, lun_name: l.name, tpg: p.tpg, path_gateway: p.gateway, state: p.state }, value: 1 }))),
  ),
  family('ceph_iscsi_lun_active_optimized', 'gauge', 'This gateway is the active/optimized path (owner) of the LUN (1) or not (0)', (s) =>
    s.luns.map((l) => ({ labels: { gw_name: s.gatewayName, lun_name: l.name }, value: l.owner === s.gatewayName ? 1 : 0 })),
  ),
  family('ceph_iscsi_lock_acquisitions_total', 'counter', 'Exclusive lock acquisitions by this gateway', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.lock.acquired }]),
  family('ceph_iscsi_lock_releases_total', 'counter', 'Exclusive lock hand-overs by this gateway', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.lock.released }]),
  family('ceph_iscsi_lock_lost_total', 'counter', 'Exclusive locks lost by this gateway (taken by another gateway, or this one fenced)', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.lock.lost }]),

  // ---- iSCSI sessions, logins, PDUs ----
  family('ceph_iscsi_sessions', 'gauge', 'Logged-in normal sessions, per target and portal', sessionsPerPortal),
  family('ceph_iscsi_connections', 'gauge', 'Open iSCSI connections (login, discovery and normal)', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.connections }]),
  family('ceph_iscsi_login_successes_total', 'counter', 'Logins that reached the full feature phase', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.iscsi.loginSuccesses }]),
  family('ceph_iscsi_login_failures_total', 'counter', 'Failed logins by reason (chap: authentication failed; acl: initiator not allowed)', (s) =>
    s.loginFailureReasons.map((reason) => ({ labels: { gw_name: s.gatewayName, reason }, value: s.iscsi.loginFailures.get(reason) ?? 0 })),
  ),
  family('ceph_iscsi_pdu_rejects_total', 'counter', 'Reject PDUs sent (protocol errors), by reason', (s) =>
    [...s.rejectNames].map(([code, reason]) => ({ labels: { gw_name: s.gatewayName, reason }, value: s.iscsi.rejects[code] ?? 0 })),
  ),
  family('ceph_iscsi_pdu_digest_errors_total', 'counter', 'PDUs with a wrong CRC32C digest', (s) => [
    { labels: { gw_name: s.gatewayName, digest: 'header' }, value: s.iscsi.headerDigestErrors },
    { labels: { gw_name: s.gatewayName, digest: 'data' }, value: s.iscsi.dataDigestErrors },
  ]),
  family('ceph_iscsi_pdu_framing_errors_total', 'counter', 'Connections closed for a malformed PDU (length, opcode, reserved fields)', (s) => [
    { labels: { gw_name: s.gatewayName }, value: s.iscsi.framingErrors },
  ]),
  family('ceph_iscsi_task_management_total', 'counter', 'Task management function requests, by function', (s) =>
    [...s.tmfNames].map(([code, fn]) => ({ labels: { gw_name: s.gatewayName, function: fn }, value: s.iscsi.tmf[code] ?? 0 })),
  ),

  // ---- guessing protection (src/util/auth-throttle.ts: service iscsi = CHAP logins, api = REST Basic auth) ----
  family('ceph_iscsi_auth_failures_total', 'counter', 'Failed authentications by service (iscsi, api) and reason (chap, acl, password, ...)', (s) =>
    throttles().flatMap(([service, t]) => {
      // The reasons each service records, at 0 before the first failure (rate() needs the series to exist).
      const reasons = new Set([...(KNOWN_AUTH_REASONS[service] ?? []), ...Object.keys(t.failuresByReason)]);
      return [...reasons].map((reason) => ({ labels: { gw_name: s.gatewayName, service, reason }, value: t.failuresByReason[reason] ?? 0 }));
    }),
  ),
  family('ceph_iscsi_auth_successes_total', 'counter', 'Successful authentications by service', perThrottle((t) => t.successes)),
  family('ceph_iscsi_auth_held_total', 'counter', 'Authentication attempts delayed by the guessing back-off', perThrottle((t) => t.held)),
  family('ceph_iscsi_auth_refused_total', 'counter', 'Authentication attempts refused unchecked by the guessing back-off', perThrottle((t) => t.refused)),
  family('ceph_iscsi_auth_held', 'gauge', 'Authentication attempts held by the back-off now', perThrottle((t) => t.heldNow)),
  family('ceph_iscsi_connections_refused_total', 'counter', 'iSCSI connections closed at accept by the per-address cap', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.connectionsRefused }]),

  // ---- configuration ----
  family('ceph_iscsi_config_epoch', 'gauge', 'Epoch of the configuration document this gateway runs', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.config.epoch }]),
  family('ceph_iscsi_reconcile_duration_seconds', 'summary', 'Time to apply a configuration document (reconcile)', (s) => [
    { metricName: 'ceph_iscsi_reconcile_duration_seconds_sum', labels: { gw_name: s.gatewayName }, value: s.config.reconcileSecondsSum },
    { metricName: 'ceph_iscsi_reconcile_duration_seconds_count', labels: { gw_name: s.gatewayName }, value: s.config.reconciles },
  ]),
  family('ceph_iscsi_reconcile_last_duration_seconds', 'gauge', 'Duration of the last reconcile', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.config.lastReconcileSeconds }]),
  family('ceph_iscsi_reconcile_failures_total', 'counter', 'Reconciles that failed (the gateway kept serving what ran)', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.config.reconcileFailures }]),
  family('ceph_iscsi_gateway_maintenance', 'gauge', 'This gateway is in maintenance (its LUNs handed to its peers)', (s) => [{ labels: { gw_name: s.gatewayName }, value: s.inMaintenance ? 1 : 0 }]),
];
