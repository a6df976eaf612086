/** Sessions: who is logged in where, and live IOPS / throughput / latency per LUN. */
import type { JSX } from 'preact';
import { RateCharts } from '../chart.js';
import { useData } from '../state.js';
import { Table } from '../table.js';

export function Sessions(): JSX.Element {
  const { stats, history } = useData();
  const sessions = stats?.sessions ?? [];
  return (
    <>
      <h2>Sessions</h2>
      <p>
        On gateway <strong>{stats?.gateway ?? '…'}</strong>: {sessions.length} session(s), {stats?.connections ?? 0} connection(s); logins {stats?.loginSuccesses ?? 0}, refused {stats?.loginFailures ?? 0}.
      </p>
      <Table name="sessions" caption="Logged-in initiators" columns={['Initiator', 'Target', 'From', 'Portal', 'TPG', 'Auth', 'ISID / TSIH', 'Since', 'Negotiated']} empty="No sessions" rows={sessions.length}>
        {sessions.map((s) => (
          <tr>
            <th scope="row">
              {s.initiator}
              {s.alias !== '' && <small> ({s.alias})</small>}
            </th>
            <td>{s.target}</td>
            <td>{s.ip}</td>
            <td>{s.portal}</td>
            <td>{s.tpgt}</td>
            <td>{s.auth}</td>
            <td>
              {s.isid} / {s.tsih}
            </td>
            <td>{new Date(s.loginTime).toLocaleTimeString()}</td>
            <td>
              <details data-negotiated>
                <summary>Parameters</summary>
                <dl class="params">
                  {Object.entries(s.negotiated).map(([k, v]) => (
                    <>
                      <dt>{k}</dt>
                      <dd>{v}</dd>
                    </>
                  ))}
                </dl>
              </details>
            </td>
          </tr>
        ))}
      </Table>
      <h3>Live I/O per LUN</h3>
      {(stats?.luns ?? []).length === 0 && <p>No LUNs on this gateway.</p>}
      {(stats?.luns ?? []).map((l) => (
        <section class="lun" aria-labelledby={`lun-${l.lunId}-${l.disk}`} data-lun={l.disk}>
          <h4 id={`lun-${l.lunId}-${l.disk}`}>
            LUN {l.lunId}: {l.disk} <small>({l.target})</small>
          </h4>
          <p>
            Owner (active/optimized): {l.owner || 'none'}; paths: {l.paths.map((p) => `TPG ${p.tpg} ${p.gateway || '?'} ${p.state}`).join(', ')}; in flight: {l.inflight}
          </p>
          <RateCharts id={`lun-${l.disk.replace('/', '-')}`} label={`I/O of ${l.disk}`} points={history.get(`${l.target}|${l.disk}`) ?? []} />
        </section>
      ))}
    </>
  );
}
