/**
 * GET /api/_stats: this gateway's cumulative I/O counters per LUN and its sessions, as JSON, for
 * the web console's live charts and sessions page (the Prometheus exporter reads the same
 * counters on its own port, which a page served here could not fetch same-origin). Rates are the
 * caller's business: two readings and their `time` give IOPS, MB/s and the mean latency.
 * Internal (`_`): not in the `GET /api` listing, and no upstream equivalent.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';

interface IoTotals {
  read: number;
  write: number;
  other: number;
}

export interface LunStats {
  disk: string;
  target: string;
  lunId: number;
  sizeBytes: number;
  owner: string;
  paths: { tpg: number; gateway: string; state: string }[];
  commands: IoTotals;
  /** Sum of the command latencies, seconds, per class. */
  latencySeconds: IoTotals;
  readBytes: number;
  writeBytes: number;
  inflight: number;
}

export interface StatsReply {
  gateway: string;
  /** ms since the epoch when the counters were read. */
  time: number;
  luns: LunStats[];
  sessions: { target: string; initiator: string; alias: string; ip: string; portal: string; tpgt: number; isid: string; tsih: number; loginTime: string; auth: string; negotiated: Record<string, string> }[];
  connections: number;
  loginSuccesses: number;
  loginFailures: number;
}

const totals = (a: Float64Array): IoTotals => ({ read: a[0] ?? 0, write: a[1] ?? 0, other: a[2] ?? 0 });

export function statsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { status } = ctx.deps;
  app.get('/api/_stats', async (): Promise<StatsReply> => {
    const time = Date.now();
    if (status.metricsSnapshot === undefined) {
      return { gateway: status.gatewayName, time, luns: [], sessions: [], connections: 0, loginSuccesses: 0, loginFailures: 0 };
    }
    const s = status.metricsSnapshot();
    let loginFailures = 0;
    for (const n of s.iscsi.loginFailures.values()) loginFailures += n;
    return {
      gateway: s.gatewayName,
      time,
      luns: s.luns.map((l) => ({
        disk: l.name,
        target: l.target,
        lunId: l.lunId,
        sizeBytes: l.sizeBytes,
        owner: l.owner,
        paths: l.paths.map((p) => ({ ...p })),
        commands: totals(l.io.commands),
        latencySeconds: totals(l.io.latencySum),
        readBytes: l.io.readBytes,
        writeBytes: l.io.writeBytes,
        inflight: l.io.inflight,
      })),
      sessions: s.sessions.map((x) => ({
        target: x.targetIqn,
        initiator: x.initiatorName,
        alias: x.initiatorAlias,
        ip: x.ipAddress,
        portal: x.portal,
        tpgt: x.tpgt,
        isid: x.isid,
        tsih: x.tsih,
        loginTime: x.loginTime.toISOString(),
        auth: x.authMethod,
        negotiated: x.negotiated ?? {},
      })),
      connections: s.connections,
      loginSuccesses: s.iscsi.loginSuccesses,
      loginFailures,
    };
  });
}
