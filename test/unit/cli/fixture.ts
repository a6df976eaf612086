// A fixed tree state (as loadState would build it from the API) for golden-output tests.
import type { GatewayConfig } from '../../../src/config/schema.js';
import type { TreeState } from '../../../src/cli/state.js';

export const T = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
export const C = 'iqn.1994-05.com.redhat:rh7-client';
export const C2 = 'iqn.1994-05.com.redhat:myhost1';
const GIB = 1024 ** 3;
const auth = (u = '', p = '', mu = '', mp = '') => ({ username: u, password: p, password_encryption_enabled: false, mutual_username: mu, mutual_password: mp, mutual_password_encryption_enabled: false });

export function fixtureState(): TreeState {
  const config: GatewayConfig = {
    version: 11,
    epoch: 7,
    created: '2026/01/01 00:00:00',
    updated: '2026/01/01 00:00:00',
    discovery_auth: auth(),
    gateways: { gw1: { active_luns: 1, created: '', updated: '' }, gw2: { active_luns: 1, created: '', updated: '' } },
    disks: {
      'rbd/disk_1': { pool: 'rbd', image: 'disk_1', pool_id: 1, wwn: 'w1', backstore: 'user:rbd', backstore_object_name: 'rbd.disk_1', allocating_host: 'gw1', owner: 'gw1', controls: {}, created: '', updated: '' },
      'rbd/disk_2': { pool: 'rbd', image: 'disk_2', pool_id: 1, wwn: 'w2', backstore: 'user:rbd', backstore_object_name: 'rbd.disk_2', allocating_host: 'gw1', owner: 'gw2', controls: {}, created: '', updated: '' },
    },
    targets: {
      [T]: {
        acl_enabled: true,
        auth: auth(),
        controls: {},
        ip_list: ['192.168.122.69', '192.168.122.104'],
        portals: {
          gw1: { portal_ip_addresses: ['192.168.122.69'], gateway_ip_list: ['192.168.122.69', '192.168.122.104'], inactive_portal_ips: ['192.168.122.104'], tpgs: 2 },
          gw2: { portal_ip_addresses: ['192.168.122.104'], gateway_ip_list: ['192.168.122.69', '192.168.122.104'], inactive_portal_ips: ['192.168.122.69'], tpgs: 2 },
        },
        disks: { 'rbd/disk_1': { lun_id: 0 }, 'rbd/disk_2': { lun_id: 1 } },
        clients: {
          [C]: { auth: auth('myiscsiusername', 'myiscsipassw0rd'), group_name: '', luns: { 'rbd/disk_2': { lun_id: 0 } } },
          [C2]: { auth: auth('myhost1username', 'myhost1passw0rd'), group_name: '', luns: { 'rbd/disk_1': { lun_id: 0 } } },
        },
        groups: {},
        created: '',
        updated: '',
      },
    },
  };
  return {
    config,
    localGateway: 'gw1',
    gatewayUp: { gw1: true, gw2: true },
    disks: { 'rbd/disk_1': { state: 'Online', size: GIB }, 'rbd/disk_2': { state: 'Online', size: 2 * GIB } },
    loggedIn: { [`${T} ${C}`]: true },
    cluster: {
      name: 'ceph',
      backstore: 'rbd',
      health: 'HEALTH_OK',
      checks: [],
      topology: { OSDs: 3, MONs: 3 },
      // the figures of the upstream seed (docs: gwcli ls on a 3-OSD cluster)
      pools: [
        { name: 'ec', replication: '2+1', committed_bytes: 0, capacity_bytes: 40 * GIB, used_bytes: 0 },
        { name: 'rbd', replication: 'x3', committed_bytes: 8 * GIB, capacity_bytes: 20 * GIB, used_bytes: 5 * 1024 },
      ],
    },
    settings: {
      target_default_controls: { cmdsn_depth: 128, immediate_data: true, nopin_timeout: 5 },
      disk_default_controls: { 'user:rbd': { qfull_timeout: 5, max_data_area_mb: 8 } },
      default_backstore: 'user:rbd',
      backstores: ['user:rbd'],
    },
  };
}
