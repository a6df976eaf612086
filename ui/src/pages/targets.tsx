/** Targets: create/delete, gateways (portals), ACL mode, target CHAP, controls. */
import type { JSX } from 'preact';
import { api, apiPath } from '../api.js';
import type { TargetDoc } from '../api.js';
import { ActionButton, ApiForm } from '../form.js';
import { useData } from '../state.js';
import { Table } from '../table.js';

const CHAP_FIELDS = [
  { name: 'username', label: 'CHAP username', terms: ['username'], hint: '8-64 characters' },
  { name: 'password', label: 'CHAP password', type: 'password', terms: ['password'], hint: '12-16 characters' },
  { name: 'mutual_username', label: 'Mutual CHAP username', terms: ['mutual username'] },
  { name: 'mutual_password', label: 'Mutual CHAP password', type: 'password', terms: ['mutual password'] },
] as const;
export { CHAP_FIELDS };

function TargetCard(props: { iqn: string; t: TargetDoc; refresh: () => void }): JSX.Element {
  const { iqn, t, refresh } = props;
  const after = async <T,>(p: Promise<T>): Promise<T> => {
    const r = await p;
    refresh();
    return r;
  };
  return (
    <section class="card target" aria-labelledby={`t-${iqn}`} data-target={iqn}>
      <h3 id={`t-${iqn}`}>{iqn}</h3>
      <p>
        ACL mode: <strong>{t.acl_enabled ? 'ACL (per-client)' : 'target CHAP / open'}</strong>; target CHAP: {t.auth.username !== '' ? t.auth.username : 'none'}
        {t.auth.mutual_username !== '' ? ` (mutual: ${t.auth.mutual_username})` : ''}
      </p>
      <Table name="portals" caption="Portals" columns={['Gateway', 'IP addresses', 'Inactive', '']} empty="No gateways" rows={Object.keys(t.portals).length}>
        {Object.entries(t.portals).map(([gw, p]) => (
          <tr>
            <th scope="row">{gw}</th>
            <td>{p.portal_ip_addresses.join(', ')}</td>
            <td>{p.inactive_portal_ips.join(', ') || '—'}</td>
            <td>
              <ActionButton label={`Delete gateway ${gw}`} danger confirm={`Delete gateway ${gw} from ${iqn}?`} run={() => after(api.del(apiPath('gateway', iqn, gw)))} />
            </td>
          </tr>
        ))}
      </Table>
      <p>
        LUNs:{' '}
        {Object.entries(t.disks)
          .map(([d, l]) => `${l.lun_id}: ${d}`)
          .join(', ') || 'none'}
        ; clients: {Object.keys(t.clients).length}
      </p>
      <div class="row">
        <ActionButton label={t.acl_enabled ? 'Disable ACL' : 'Enable ACL'} run={() => after(api.put(apiPath('targetauth', iqn), { action: t.acl_enabled ? 'disable_acl' : 'enable_acl' }))} />
        <ActionButton label="Delete target" danger confirm={`Delete target ${iqn}?`} run={() => after(api.del(apiPath('target', iqn)))} />
      </div>
      <details>
        <summary>Target CHAP and controls</summary>
        <ApiForm
          title="Target CHAP"
          fields={CHAP_FIELDS}
          submitLabel="Set target CHAP"
          onSubmit={async (v) => (await after(api.put(apiPath('targetauth', iqn), v))).message}
        />
        <ApiForm
          title="Controls"
          fields={[{ name: 'controls', label: 'Controls (JSON)', type: 'textarea', value: JSON.stringify(t.controls ?? {}), terms: ['control'], hint: 'e.g. {"cmdsn_depth": 64}' }]}
          submitLabel="Save controls"
          onSubmit={async (v) => (await after(api.put(apiPath('target', iqn), { mode: 'reconfigure', controls: v['controls'] }))).message}
        />
      </details>
    </section>
  );
}

export function Targets(): JSX.Element {
  const { config, stats, refresh } = useData();
  const targets = Object.entries(config?.targets ?? {});
  const iqns = targets.map(([iqn]) => iqn);
  return (
    <>
      <h2>Targets</h2>
      <div class="forms">
        <ApiForm
          id="create-target"
          title="Create a target"
          fields={[{ name: 'iqn', label: 'Target IQN', placeholder: 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw', terms: ['iqn', 'target'] }]}
          submitLabel="Create target"
          onSubmit={async (v) => {
            const r = await api.put(apiPath('target', v['iqn'] ?? ''));
            refresh();
            return r.message;
          }}
        />
        <ApiForm
          key={`gw-${stats?.gateway ?? ''}-${iqns.join(',')}`}
          id="add-gateway"
          title="Add a gateway (portal)"
          fields={[
            { name: 'target', label: 'Target', type: 'select', options: iqns },
            { name: 'gateway', label: 'Gateway name', value: stats?.gateway ?? '', terms: ['gateway'] },
            { name: 'ip_address', label: 'Portal IP addresses', placeholder: '192.168.1.10,10.0.0.10', terms: ['ip', 'address'] },
            { name: 'skipchecks', label: 'Skip the gateway checks', type: 'checkbox', value: 'false' },
          ]}
          submitLabel="Add gateway"
          onSubmit={async (v) => {
            const r = await api.put(apiPath('gateway', v['target'] ?? '', v['gateway'] ?? ''), { ip_address: v['ip_address'], skipchecks: v['skipchecks'] });
            refresh();
            return r.message;
          }}
        />
      </div>
      {targets.length === 0 && <p>No targets yet.</p>}
      {targets.map(([iqn, t]) => (
        <TargetCard key={iqn} iqn={iqn} t={t} refresh={refresh} />
      ))}
    </>
  );
}
