/** Disks: create (pool, image, size), map to a target, resize, snapshots, unmap, delete; LUN, target and owner of each. */
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { api, apiPath } from '../api.js';
import type { DiskInfo } from '../api.js';
import { ActionButton, ApiForm } from '../form.js';
import { humanBytes, useData } from '../state.js';
import { Table } from '../table.js';

function DiskDetails(props: { id: string; refresh: () => void; version: number }): JSX.Element {
  const { id, refresh } = props;
  const [info, setInfo] = useState<DiskInfo | undefined>();
  const [n, setN] = useState(0);
  const reload = (): void => setN((x) => x + 1);
  useEffect(() => {
    let live = true;
    api.get<DiskInfo>(apiPath('disk', id)).then(
      (i) => live && setInfo(i),
      () => live && setInfo(undefined),
    );
    return () => {
      live = false;
    };
  }, [id, n, props.version]);
  const after = async <T,>(p: Promise<T>): Promise<T> => {
    const r = await p;
    reload();
    refresh();
    return r;
  };
  return (
    <section class="card" aria-labelledby="disk-details" data-disk-details={id}>
      <h3 id="disk-details">{id}</h3>
      <p>Size: {info?.size !== undefined ? humanBytes(info.size) : '…'}</p>
      <div class="forms">
        <ApiForm
          key={`resize-${id}`}
          title="Resize"
          fields={[{ name: 'size', label: 'New size', placeholder: '2G', terms: ['size'], hint: 'M, G or T; larger than the current size' }]}
          submitLabel="Resize"
          onSubmit={async (v) => (await after(api.put(apiPath('disk', id), { mode: 'resize', size: v['size'] }))).message}
        />
        <ApiForm
          key={`snap-${id}`}
          title="Create a snapshot"
          fields={[{ name: 'name', label: 'Snapshot name', terms: ['snapshot name', 'name'] }]}
          submitLabel="Create snapshot"
          onSubmit={async (v) => (await after(api.put(apiPath('disksnap', id, v['name'] ?? ''), { mode: 'create' }))).message}
        />
      </div>
      <h4>Snapshots</h4>
      {info?.snapshots === undefined ? (
        <p>Snapshots are not available on this backstore.</p>
      ) : info.snapshots.length === 0 ? (
        <p>None</p>
      ) : (
        <ul class="snapshots">
          {info.snapshots.map((s) => (
            <li>
              {s} <ActionButton label={`Roll back to ${s}`} confirm={`Roll ${id} back to ${s}?`} run={() => after(api.put(apiPath('disksnap', id, s), { mode: 'rollback' }))} />{' '}
              <ActionButton label={`Delete ${s}`} danger run={() => after(api.del(apiPath('disksnap', id, s)))} />
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <ActionButton label={`Delete ${id}`} danger confirm={`Delete ${id} and its image?`} run={() => after(api.del(apiPath('disk', id), { preserve_image: 'false' }))} />
      </div>
    </section>
  );
}

export function Disks(): JSX.Element {
  const { config, cluster, stats, refresh } = useData();
  const [selected, setSelected] = useState('');
  const [version, setVersion] = useState(0);
  const disks = Object.entries(config?.disks ?? {});
  const targets = Object.entries(config?.targets ?? {});
  const mapped = (id: string): { target: string; lun: number }[] => targets.flatMap(([iqn, t]) => (t.disks[id] !== undefined ? [{ target: iqn, lun: t.disks[id]?.lun_id ?? -1 }] : []));
  const owner = (id: string): string => stats?.luns.find((l) => l.disk === id)?.owner || config?.disks[id]?.owner || '—';
  const pools = (cluster?.pools ?? []).map((p) => p.name);
  const ids = disks.map(([id]) => id);
  const current = ids.includes(selected) ? selected : (ids[0] ?? '');
  const changed = (): void => {
    setVersion((v) => v + 1);
    refresh();
  };
  return (
    <>
      <h2>Disks</h2>
      <Table name="disks" caption="Disks defined to the gateways" columns={['Disk', 'Backstore', 'Target / LUN', 'Owner', 'WWN']} empty="No disks" rows={disks.length}>
        {disks.map(([id, d]) => (
          <tr>
            <th scope="row">
              <button type="button" class="link" aria-pressed={id === current} onClick={() => setSelected(id)}>
                {id}
              </button>
            </th>
            <td>{d.backstore}</td>
            <td>{mapped(id).map((m) => `${m.target} LUN ${m.lun}`).join(', ') || 'not mapped'}</td>
            <td>{owner(id)}</td>
            <td class="mono">{d.wwn}</td>
          </tr>
        ))}
      </Table>
      <div class="forms">
        <ApiForm
          id="create-disk"
          key={`create-disk-${pools.join(',')}`}
          title="Create a disk"
          fields={[
            { name: 'pool', label: 'Pool', type: 'select', options: pools.length > 0 ? pools : ['rbd'], terms: ['pool'] },
            { name: 'image', label: 'Image name', placeholder: 'disk_1', terms: ['image', 'name'] },
            { name: 'size', label: 'Size', placeholder: '1G', terms: ['size'], hint: 'M, G or T' },
          ]}
          submitLabel="Create disk"
          onSubmit={async (v) => {
            const r = await api.put(apiPath('disk', v['pool'] ?? '', v['image'] ?? ''), { mode: 'create', size: v['size'], create_image: 'true' });
            changed();
            return r.message;
          }}
        />
        <ApiForm
          id="map-disk"
          key={`map-disk-${ids.join(',')}`}
          title="Add a disk to a target (LUN)"
          fields={[
            { name: 'target', label: 'Target', type: 'select', options: targets.map(([iqn]) => iqn) },
            { name: 'disk', label: 'Disk', type: 'select', options: ids, terms: ['disk'] },
            { name: 'lun_id', label: 'LUN id (optional)', terms: ['lun'] },
          ]}
          submitLabel="Add LUN"
          onSubmit={async (v) => {
            const r = await api.put(apiPath('targetlun', v['target'] ?? ''), { disk: v['disk'], ...(v['lun_id'] ? { lun_id: v['lun_id'] } : {}) });
            changed();
            return r.message;
          }}
        />
      </div>
      {current !== '' && (
        <>
          {mapped(current).map((m) => (
            <div class="row">
              <ActionButton label={`Remove ${current} from ${m.target}`} danger run={async () => {
                const r = await api.del(apiPath('targetlun', m.target), { disk: current });
                changed();
                return r;
              }} />
            </div>
          ))}
          <DiskDetails key={current} id={current} refresh={refresh} version={version} />
        </>
      )}
    </>
  );
}
