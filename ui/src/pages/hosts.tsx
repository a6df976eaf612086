/** Hosts (clients: ACL, CHAP and mutual CHAP, LUN masking) and host groups of a target. */
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, apiPath } from '../api.js';
import { ActionButton, ApiForm } from '../form.js';
import { useData } from '../state.js';
import { Table } from '../table.js';
import { CHAP_FIELDS } from './targets.js';

export function Hosts(): JSX.Element {
  const { config, stats, refresh } = useData();
  const iqns = Object.keys(config?.targets ?? {});
  const [picked, setPicked] = useState('');
  const iqn = iqns.includes(picked) ? picked : (iqns[0] ?? '');
  const t = config?.targets[iqn];
  const clients = Object.entries(t?.clients ?? {});
  const clientIqns = clients.map(([c]) => c);
  const lunDisks = Object.keys(t?.disks ?? {});
  const groups = Object.entries(t?.groups ?? {});
  const loggedIn = (c: string): boolean => (stats?.sessions ?? []).some((s) => s.target === iqn && s.initiator.toLowerCase() === c.toLowerCase());
  const done = async (p: Promise<{ message?: string }>): Promise<string | undefined> => {
    const r = await p;
    refresh();
    return r.message;
  };
  if (iqns.length === 0) {
    return (
      <>
        <h2>Hosts</h2>
        <p>Create a target first.</p>
      </>
    );
  }
  return (
    <>
      <h2>Hosts</h2>
      <div class="field inline">
        <label for="hosts-target">Target</label>
        <select id="hosts-target" value={iqn} onChange={(e) => setPicked(e.currentTarget.value)}>
          {iqns.map((i) => (
            <option value={i}>{i}</option>
          ))}
        </select>
      </div>
      <Table name="clients" caption={`Clients of ${iqn}`} columns={['Initiator', 'CHAP', 'Mutual CHAP', 'Group', 'LUNs', 'Logged in', '']} empty="No clients" rows={clients.length}>
        {clients.map(([c, cl]) => (
          <tr>
            <th scope="row">{c}</th>
            <td>{cl.auth.username || '—'}</td>
            <td>{cl.auth.mutual_username || '—'}</td>
            <td>{cl.group_name || '—'}</td>
            <td>
              {Object.keys(cl.luns).length === 0
                ? '—'
                : Object.entries(cl.luns).map(([d, l]) => (
                    <div class="lun-entry">
                      {l.lun_id}: {d}{' '}
                      <ActionButton label={`Unmap ${d} from ${c}`} danger run={() => done(api.del(apiPath('clientlun', iqn, c), { disk: d }))} />
                    </div>
                  ))}
            </td>
            <td>{loggedIn(c) ? 'yes' : 'no'}</td>
            <td>
              <ActionButton label={`Delete ${c}`} danger confirm={`Delete client ${c}?`} run={() => done(api.del(apiPath('client', iqn, c)))} />
            </td>
          </tr>
        ))}
      </Table>
      <div class="forms">
        <ApiForm
          id="create-client"
          key={`cc-${iqn}`}
          title="Add a client"
          fields={[{ name: 'client', label: 'Initiator IQN', placeholder: 'iqn.1994-05.com.redhat:rh7-client', terms: ['iqn', 'client'] }]}
          submitLabel="Add client"
          onSubmit={(v) => done(api.put(apiPath('client', iqn, v['client'] ?? '')))}
        />
        <ApiForm
          id="client-chap"
          key={`chap-${iqn}-${clientIqns.join(',')}`}
          title="Client CHAP"
          fields={[{ name: 'client', label: 'Client', type: 'select', options: clientIqns }, ...CHAP_FIELDS]}
          submitLabel="Set CHAP"
          onSubmit={(v) => {
            const { client, ...chap } = v;
            return done(api.put(apiPath('clientauth', iqn, client ?? ''), chap));
          }}
        />
        <ApiForm
          id="client-lun"
          key={`lun-${iqn}-${clientIqns.join(',')}-${lunDisks.join(',')}`}
          title="Map a LUN to a client"
          fields={[
            { name: 'client', label: 'Client', type: 'select', options: clientIqns },
            { name: 'disk', label: 'Disk', type: 'select', options: lunDisks, terms: ['disk'] },
          ]}
          submitLabel="Map LUN"
          onSubmit={(v) => done(api.put(apiPath('clientlun', iqn, v['client'] ?? ''), { disk: v['disk'] }))}
        />
      </div>
      <h3>Host groups</h3>
      <Table name="groups" caption={`Host groups of ${iqn}`} columns={['Group', 'Members', 'Disks', '']} empty="No host groups" rows={groups.length}>
        {groups.map(([g, grp]) => (
          <tr>
            <th scope="row">{g}</th>
            <td>{grp.members.join(', ') || '—'}</td>
            <td>{Object.keys(grp.disks).join(', ') || '—'}</td>
            <td>
              <ActionButton label={`Delete group ${g}`} danger run={() => done(api.del(apiPath('hostgroup', iqn, g)))} />
            </td>
          </tr>
        ))}
      </Table>
      <ApiForm
        id="hostgroup"
        key={`hg-${iqn}`}
        title="Create a host group or add to one"
        fields={[
          { name: 'group', label: 'Group name', terms: ['group'] },
          { name: 'members', label: 'Members (IQNs, comma separated)', terms: ['member', 'client'] },
          { name: 'disks', label: 'Disks (pool/image, comma separated)', terms: ['disk'] },
        ]}
        submitLabel="Save group"
        onSubmit={(v) => done(api.put(apiPath('hostgroup', iqn, v['group'] ?? ''), { action: 'add', members: v['members'], disks: v['disks'] }))}
      />
    </>
  );
}
