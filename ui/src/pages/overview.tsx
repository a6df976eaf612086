/** Overview: gateways, targets, sessions, total IOPS / MB/s / latency and the storage health. */
import type { JSX } from 'preact';
import { RateCharts } from '../chart.js';
import type { StatsReply } from '../api.js';
import { useData } from '../state.js';

/**
 * A gateway's state as this gateway sees it: itself is up; a peer is up while its LUN paths are
 * active (ALUA), down once its lease lapsed and they turned unavailable.
 */
function gatewayState(g: string, stats: StatsReply | undefined, inactive: readonly string[]): string {
  if (g === stats?.gateway) return 'up (this console)';
  const states = new Set((stats?.luns ?? []).flatMap((l) => l.paths.filter((p) => p.gateway === g).map((p) => p.state)));
  const note = inactive.length > 0 ? `; inactive portals: ${inactive.join(', ')}` : '';
  if (states.size === 0) return `configured, no LUN paths here${note}`;
  const down = ['unavailable', 'offline', 'transitioning'].some((s) => states.has(s)) && !states.has('active-optimized') && !states.has('active-non-optimized');
  return `${down ? 'down' : 'up'} (LUN paths ${[...states].join(', ')})${note}`;
}

export function Overview(): JSX.Element {
  const { config, cluster, stats, total } = useData();
  const targets = Object.entries(config?.targets ?? {});
  const gateways = Object.keys(config?.gateways ?? {}).filter((g) => typeof config?.gateways[g] === 'object');
  const clients = targets.reduce((n, [, t]) => n + Object.keys(t.clients).length, 0);
  const last = total[total.length - 1];
  const tiles: [string, string][] = [
    ['Gateways', String(gateways.length)],
    ['Targets', String(targets.length)],
    ['Disks', String(Object.keys(config?.disks ?? {}).length)],
    ['Clients', String(clients)],
    ['Sessions', String(stats?.sessions.length ?? 0)],
    ['IOPS', String(Math.round(last?.iops ?? 0))],
    ['MB/s', (last?.mbps ?? 0).toFixed(1)],
    ['Latency ms', (last?.latencyMs ?? 0).toFixed(2)],
  ];
  return (
    <>
      <h2>Overview</h2>
      <ul class="tiles" aria-label="Totals">
        {tiles.map(([k, v]) => (
          <li class="tile" data-tile={k}>
            <span class="tile-value">{v}</span>
            <span class="tile-label">{k}</span>
          </li>
        ))}
      </ul>
      <section aria-labelledby="ov-health">
        <h3 id="ov-health">Health</h3>
        <p>
          Storage ({cluster?.backstore ?? '…'}): <strong data-health>{cluster?.health ?? '…'}</strong>
        </p>
        {(cluster?.checks.length ?? 0) > 0 && (
          <ul>
            {cluster?.checks.map((c) => (
              <li>{c}</li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="ov-gw">
        <h3 id="ov-gw">Gateways</h3>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Gateway</th>
                <th scope="col">Portals</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {gateways.map((g) => {
                const ips = targets.flatMap(([, t]) => t.portals[g]?.portal_ip_addresses ?? []);
                const inactive = targets.flatMap(([, t]) => t.portals[g]?.inactive_portal_ips ?? []);
                return (
                  <tr>
                    <th scope="row">{g}</th>
                    <td>{[...new Set(ips)].join(', ')}</td>
                    <td data-gateway-state={g}>{gatewayState(g, stats, inactive)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
      <RateCharts id="total" label="All LUNs of this gateway" points={total} />
    </>
  );
}
