/**
 * The real Ceph Dashboard 16.2 (Debian ceph-mgr-dashboard) manages iSCSI through two of our
 * gateways (gw-a on 127.0.0.1, gw-b on 127.0.0.2; config_store rados, backstore rbd), as a user
 * of its Block → iSCSI pages would: its REST API is driven with the same calls the pages make
 * (status, version, settings, portals, overview, discovery auth, target list/get, create, edit,
 * rename, delete), and after each change initiators (iscsi-ls, iscsi-readcapacity16, qemu-io)
 * see exactly what was asked, through both portals. The overview shows each image's optimized
 * path and non-zero rates under qemu-io load (our tcmu-runner service map entries), and a
 * headless Chromium renders the overview and the targets list (screenshots in dist/dashboard/).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer from 'puppeteer-core';
import { CephCluster } from './ceph-helpers.js';
import { addIscsiGateway, CHROMIUM, DASH_PASSWORD, DASH_USER, DashboardClient, requireDashboard, startDashboard } from './dashboard-helpers.js';
import { Daemon, freePortOn, requireTools, ROOT, run, tempDir, waitFor, type RunResult } from './helpers.js';

const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:dashboard';
const IQN2 = 'iqn.2003-01.com.redhat.iscsi-gw:dashboard-renamed';
const C1 = 'iqn.1994-05.com.example:dash-c1';
const C2 = 'iqn.1994-05.com.example:dash-c2';
const C3 = 'iqn.1994-05.com.example:dash-c3';
const CHAP1 = { user: 'dash-user1', password: 'dashpassw0rd01', mutual_user: 'dash-mutual1', mutual_password: 'mutualpassw0rd1' };
const CHAP1B = { ...CHAP1, password: 'dashpassw0rd02' };
const NO_AUTH = { user: '', password: '', mutual_user: '', mutual_password: '' };
const DISC = { user: 'disc-user1', password: 'discpassw0rd1', mutual_user: '', mutual_password: '' };
const MIB = 1024 * 1024;
const SIZES: Record<string, number> = { dash_1: 64 * MIB, dash_2: 96 * MIB, dash_3: 128 * MIB };
const SHOTS = join(ROOT, 'dist', 'dashboard');

type Auth = typeof NO_AUTH;
interface Creds {
  initiator: string;
  auth?: Auth;
}

describe('the Ceph Dashboard 16.2 manages iSCSI through two gateways', { timeout: 8 * 60_000 }, () => {
  let ceph: CephCluster;
  let a: Daemon;
  let b: Daemon;
  let dash: DashboardClient;
  let dir: string;
  let port = 0;
  /** qemu-io writing and reading rbd/dash_2 in a loop (started by the overview test). */
  let load: { stop: boolean; runs: number; done: Promise<void> } | undefined;
  const endLoad = async (): Promise<void> => {
    if (load === undefined) return;
    load.stop = true;
    await load.done;
    load = undefined;
  };
  const portals = (): string[] => [`127.0.0.1:${port}`, `127.0.0.2:${port}`];

  /** libiscsi URL (CHAP and mutual CHAP from `c.auth`). */
  const url = (portal: string, c: Creds, rest = ''): string => {
    const au = c.auth;
    const cred = au !== undefined && au.user !== '' ? `${encodeURIComponent(au.user)}%${encodeURIComponent(au.password)}@` : '';
    const mutual = au !== undefined && au.mutual_user !== '' ? `?target_user=${encodeURIComponent(au.mutual_user)}&target_password=${encodeURIComponent(au.mutual_password)}` : '';
    return `iscsi://${cred}${portal}${rest}${mutual}`;
  };
  /** LUN id → size in bytes, as the initiator sees `iqn` by logging in through `portal` itself. */
  const capacity = async (portal: string, iqn: string, c: Creds, lun: number): Promise<number | string> => {
    const cap = await run('iscsi-readcapacity16', ['-i', c.initiator, url(portal, c, `/${iqn}/${lun}`)], { timeoutMs: 30_000 });
    const size = /Total size:(\d+)/.exec(cap.stdout)?.[1];
    return cap.code === 0 && size !== undefined ? Number(size) : `iscsi-readcapacity16 of LUN ${lun} failed: ${cap.output}`;
  };
  /**
   * LUN id → size in bytes, as the initiator sees `iqn` logging in through `portal` itself:
   * REPORT LUNS (iscsi-ls) then READ CAPACITY of each. With mutual CHAP, libiscsi wants it on the
   * discovery session too (not set there), so LUN ids 0-3 are probed with direct logins instead.
   */
  const lunsThrough = async (portal: string, iqn: string, c: Creds): Promise<Map<number, number> | string> => {
    const out = new Map<number, number>();
    if (c.auth !== undefined && c.auth.mutual_user !== '') {
      const failures: string[] = [];
      for (let lun = 0; lun < 4; lun++) {
        const size = await capacity(portal, iqn, c, lun);
        if (typeof size === 'number') out.set(lun, size);
        else failures.push(size);
      }
      return out.size > 0 ? out : failures.join('; ');
    }
    const ls = await run('iscsi-ls', ['-s', '-i', c.initiator, url(portal, c)], { timeoutMs: 30_000 });
    if (ls.code !== 0) return `iscsi-ls failed: ${ls.output}`;
    const section = ls.stdout.split(/^Target:/m).find((x) => x.startsWith(`${iqn} `)) ?? '';
    for (const m of section.matchAll(/^Lun:(\d+)\s/gm)) {
      const size = await capacity(portal, iqn, c, Number(m[1]));
      if (typeof size === 'string') return size;
      out.set(Number(m[1]), size);
    }
    return out;
  };
  /** Waits until the initiator sees exactly `want` (LUN id → image) through both portals. */
  const expectLuns = async (iqn: string, c: Creds, want: Record<number, string>): Promise<void> => {
    const expected = JSON.stringify(Object.entries(want).map(([lun, img]) => [Number(lun), SIZES[img]]));
    for (const portal of portals()) {
      let last = '';
      await waitFor(`${c.initiator} to see ${expected} of ${iqn} through ${portal}`, async () => {
        const seen = await lunsThrough(portal, iqn, c);
        last = typeof seen === 'string' ? seen : JSON.stringify([...seen].sort((x, y) => x[0] - y[0]));
        return last === expected ? true : undefined;
      }, 30_000, 250).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; last seen: ${last}`);
      });
    }
  };
  /** The initiator cannot log in to `iqn` (discovery or login refused) through either portal. */
  const expectRefused = async (iqn: string, c: Creds): Promise<void> => {
    for (const portal of portals()) {
      const r = await run('iscsi-readcapacity16', ['-i', c.initiator, url(portal, c, `/${iqn}/0`)], { timeoutMs: 30_000 });
      assert.notEqual(r.code, 0, `${c.initiator} could still log in to ${iqn} through ${portal}:\n${r.output}`);
    }
  };
  const qemuIo = (portal: string, initiator: string, lun: number, iqn: string, cmds: string[]): Promise<RunResult> =>
    run('qemu-io', ['--image-opts', `driver=iscsi,transport=tcp,portal=${portal},target=${iqn},lun=${lun},initiator-name=${initiator}`, ...cmds.flatMap((c) => ['-c', c])], { timeoutMs: 60_000 });

  /** What the form sends: existing disks keep the wwn the page read from GET /api/iscsi/target/<iqn>. */
  const wwns = new Map<string, string>();
  const target = (iqn: string, opts: { controls: Record<string, unknown>; disks: { image: string; lun: number; controls?: Record<string, unknown> }[]; clients: { iqn: string; auth: Auth; luns: string[] }[]; groups: { id: string; members: string[]; disks: string[] }[] }) => ({
    target_iqn: iqn,
    target_controls: opts.controls,
    acl_enabled: true,
    auth: NO_AUTH,
    portals: [
      { host: 'gw-a', ip: '127.0.0.1' },
      { host: 'gw-b', ip: '127.0.0.2' },
    ],
    disks: opts.disks.map((d) => ({ pool: 'rbd', image: d.image, backstore: 'user:rbd', controls: d.controls ?? {}, lun: d.lun, ...(wwns.has(d.image) ? { wwn: wwns.get(d.image) } : {}) })),
    clients: opts.clients.map((c) => ({ client_iqn: c.iqn, auth: c.auth, luns: c.luns.map((image) => ({ pool: 'rbd', image })) })),
    groups: opts.groups.map((g) => ({ group_id: g.id, members: g.members, disks: g.disks.map((image) => ({ pool: 'rbd', image })) })),
  });
  const created = target(IQN, {
    controls: { cmdsn_depth: 64 },
    disks: [
      { image: 'dash_1', lun: 0, controls: { max_data_area_mb: 16 } },
      { image: 'dash_2', lun: 1 },
    ],
    clients: [
      { iqn: C1, auth: CHAP1, luns: ['dash_1'] },
      { iqn: C2, auth: NO_AUTH, luns: [] },
      { iqn: C3, auth: NO_AUTH, luns: ['dash_1'] },
    ],
    groups: [{ id: 'dash-group', members: [C2], disks: ['dash_2'] }],
  });
  const edited = () => target(IQN, {
    controls: { cmdsn_depth: 32, dataout_timeout: 25 },
    disks: [
      { image: 'dash_1', lun: 0, controls: { max_data_area_mb: 16 } },
      { image: 'dash_2', lun: 1 },
      { image: 'dash_3', lun: 2 },
    ],
    clients: [
      { iqn: C1, auth: CHAP1B, luns: ['dash_1', 'dash_3'] },
      { iqn: C2, auth: NO_AUTH, luns: [] },
    ],
    groups: [{ id: 'dash-group', members: [C2], disks: ['dash_2'] }],
  });

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-readcapacity16', 'qemu-io');
    requireDashboard();
    const t0 = Date.now();
    dir = await tempDir('igw-dash-');
    ceph = await CephCluster.start({ mgr: true });
    for (const [img, size] of Object.entries(SIZES)) await ceph.must('rbd', ['create', `rbd/${img}`, '--size', `${size / MIB}M`]);
    port = await freePortOn(['127.0.0.1', '127.0.0.2']);
    // status_check_interval 1: the device health of GET /api/disk follows the service map within seconds.
    const extra = ceph.settings({ config_store: 'rados', status_check_interval: '1', service_map: 'true' });
    // debug: the API logs its successful GETs too (the list of the Dashboard's calls printed at the end)
    const env = { LOG_LEVEL: 'debug' };
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port, extra, env, readyTimeoutMs: 60_000 });
    b = await Daemon.start({ gatewayName: 'gw-b', iscsiPort: port, extra, env, readyTimeoutMs: 60_000 });
    dash = await startDashboard(ceph, dir);
    await addIscsiGateway(ceph, dir, 'gw-a', `http://admin:admin@127.0.0.1:${a.apiPort}`);
    await addIscsiGateway(ceph, dir, 'gw-b', `http://admin:admin@127.0.0.1:${b.apiPort}`);
    process.stderr.write(`# dashboard: cluster, gateways and Dashboard ready after ${Date.now() - t0} ms\n`);
  });

  after(async () => {
    await endLoad().catch(() => undefined);
    if (process.env.DASHBOARD_TEST_LOGS !== undefined) {
      // keep the daemons' logs for a look after the run
      await mkdir(process.env.DASHBOARD_TEST_LOGS, { recursive: true });
      for (const d of [a, b]) if (d !== undefined) await writeFile(join(process.env.DASHBOARD_TEST_LOGS, `${d.gatewayName}.log`), d.log());
    }
    if (dash !== undefined) process.stderr.write(`# dashboard calls:\n${dash.calls.map((c) => `#   ${c.method} ${c.path} → ${c.status}`).join('\n')}\n`);
    // What the Dashboard asked our gateways (their one log line per API request), with counts.
    for (const d of [a, b]) {
      if (d === undefined) continue;
      if (!d.running) process.stderr.write(`# ${d.gatewayName} is not running; its last log lines:\n${d.log().split('\n').slice(-40).map((l) => `#   ${l.slice(0, 600)}`).join('\n')}\n`);
      const seen = new Map<string, number>();
      for (const line of d.log().split('\n')) {
        if (!line.includes('"api request"')) continue;
        try {
          const e = JSON.parse(line) as { method: string; route: string; status: number };
          const k = `${e.method} ${e.route} → ${e.status}`;
          seen.set(k, (seen.get(k) ?? 0) + 1);
        } catch {
          // not a JSON line
        }
      }
      process.stderr.write(`# rbd-target-api calls to ${d.gatewayName}:\n${[...seen].map(([k, n]) => `#   ${k} (×${n})`).join('\n')}\n`);
    }
    // The Dashboard's own errors (a 500 is a Python traceback in the mgr log).
    const mgrLog = await readFile(join(ceph.confDir, 'log', 'mgr.x.log'), 'utf8').catch(() => '');
    const lines = mgrLog.split('\n');
    const errors = lines.flatMap((l, i) => {
      const block = lines.slice(i, i + 60);
      return l.includes('Traceback') && block.some((x) => x.includes('/mgr/dashboard/')) ? block : [];
    });
    if (errors.length > 0) process.stderr.write(`# mgr log tracebacks (last 120 lines):\n${errors.slice(-120).map((l) => `#   ${l}`).join('\n')}\n`);
    await a?.dispose();
    await b?.dispose();
    await ceph?.stop();
  });

  test('status, version, settings, portals and overview of an empty configuration', async () => {
    assert.deepEqual(await dash.must('GET', '/ui-api/iscsi/status'), { available: true });
    assert.deepEqual(await dash.must('GET', '/ui-api/iscsi/version'), { ceph_iscsi_config_version: 11 });
    const settings = await dash.must<{ backstores: string[]; default_backstore: string; target_default_controls: Record<string, unknown>; disk_default_controls: Record<string, Record<string, unknown>>; target_controls_limits: Record<string, { type: string }>; config: { minimum_gateways: number } }>('GET', '/ui-api/iscsi/settings');
    assert.deepEqual(settings.backstores, ['user:rbd']);
    assert.equal(settings.default_backstore, 'user:rbd');
    assert.ok('cmdsn_depth' in settings.target_default_controls && 'max_data_area_mb' in (settings.disk_default_controls['user:rbd'] ?? {}));
    // The Dashboard's own post-processing (types filled in) ran on our limits.
    assert.equal(settings.target_controls_limits['immediate_data']?.type, 'bool');
    const ports = await dash.must<{ name: string; ip_addresses: string[] }[]>('GET', '/ui-api/iscsi/portals');
    assert.deepEqual(ports.map((p) => p.name), ['gw-a', 'gw-b']);
    for (const p of ports) assert.ok(p.ip_addresses.includes('127.0.0.1'), `${p.name}: ${p.ip_addresses.join(',')}`);
    const ov = await dash.must<{ gateways: { name: string; state: string; num_targets: unknown; num_sessions: unknown }[]; images: unknown[] }>('GET', '/ui-api/iscsi/overview');
    assert.deepEqual(ov, {
      gateways: [
        { name: 'gw-a', state: 'up', num_targets: 0, num_sessions: 0 },
        { name: 'gw-b', state: 'up', num_targets: 0, num_sessions: 0 },
      ],
      images: [],
    });
    assert.deepEqual(await dash.must('GET', '/api/iscsi/target'), []);
  });

  test('create: a target with both portals, two LUNs with controls, a CHAP + mutual CHAP client, a host group; initiators see it through both portals', async () => {
    const status = await dash.task('POST', '/api/iscsi/target', 'iscsi/target/create', created, 201);
    process.stderr.write(`# dashboard: create answered ${status}\n`);
    const got = await dash.must<Record<string, unknown>>('GET', `/api/iscsi/target/${encodeURIComponent(IQN)}`);
    assert.deepEqual(got['portals'], created.portals);
    assert.deepEqual(got['target_controls'], { cmdsn_depth: 64 });
    for (const d of got['disks'] as { image: string; wwn: string }[]) wwns.set(d.image, d.wwn);
    assert.deepEqual((got['disks'] as { image: string; lun: number; controls: unknown }[]).map((d) => [d.image, d.lun, d.controls]), [
      ['dash_1', 0, { max_data_area_mb: 16 }],
      ['dash_2', 1, {}],
    ]);
    assert.deepEqual((got['clients'] as { client_iqn: string; auth: Auth }[]).map((c) => [c.client_iqn, c.auth]), [
      [C1, CHAP1],
      [C2, NO_AUTH],
      [C3, NO_AUTH],
    ]);
    assert.deepEqual(got['groups'], [{ group_id: 'dash-group', disks: [{ pool: 'rbd', image: 'dash_2' }], members: [C2] }]);
    const list = await dash.must<{ target_iqn: string; info?: { num_sessions: number } }[]>('GET', '/api/iscsi/target');
    assert.deepEqual(list.map((t) => t.target_iqn), [IQN]);
    assert.equal(list[0]?.info?.num_sessions, 0);

    await expectLuns(IQN, { initiator: C1, auth: CHAP1 }, { 0: 'dash_1' });
    await expectLuns(IQN, { initiator: C2 }, { 1: 'dash_2' });
    await expectLuns(IQN, { initiator: C3 }, { 0: 'dash_1' });
    // CHAP is enforced: C1 without its secret (and a stranger) cannot log in.
    await expectRefused(IQN, { initiator: C1 });
    await expectRefused(IQN, { initiator: 'iqn.1994-05.com.example:stranger' });
  });

  test('discovery authentication: get, set (then enforced on SendTargets), clear', async () => {
    assert.deepEqual(await dash.must('GET', '/api/iscsi/discoveryauth'), NO_AUTH);
    // The page sends the four fields as a JSON body.
    assert.deepEqual(await dash.must('PUT', '/api/iscsi/discoveryauth', DISC), DISC);
    assert.deepEqual(await dash.must('GET', '/api/iscsi/discoveryauth'), DISC);
    const discover = (portal: string, withCreds: boolean): Promise<RunResult> =>
      run('iscsi-ls', ['-i', C2, withCreds ? `iscsi://${DISC.user}%${DISC.password}@${portal}` : `iscsi://${portal}`], { timeoutMs: 30_000 });
    for (const portal of portals()) {
      await waitFor(`SendTargets through ${portal} to need discovery CHAP`, async () => ((await discover(portal, false)).code !== 0 ? true : undefined), 15_000, 250);
      const r = await discover(portal, true);
      assert.equal(r.code, 0, r.output);
      assert.match(r.stdout, new RegExp(`Target:${IQN.replaceAll('.', '\\.')} `));
    }
    assert.deepEqual(await dash.must('PUT', '/api/iscsi/discoveryauth', NO_AUTH), NO_AUTH);
    for (const portal of portals()) {
      await waitFor(`SendTargets through ${portal} without CHAP again`, async () => ((await discover(portal, false)).code === 0 ? true : undefined), 15_000, 250);
    }
  });

  test('the overview: both gateways up, each image with its optimized path, and rates under qemu-io load; ceph service dump lists the portals', async (t) => {
    // Our device health names the lock owner of dash_2 (the gateway to write through).
    const owner = await waitFor('GET /api/disk/rbd/dash_2 to name its lock owner', async () => {
      const st = ((await a.api.must('GET', '/api/disk/rbd/dash_2')).body as { status: { state: string; lock_owner?: string; gateways?: Record<string, unknown> } }).status;
      return st.state === 'Online' && st.lock_owner !== undefined && st.lock_owner !== '' && Object.keys(st.gateways ?? {}).length === 2 ? st : undefined;
    }, 30_000, 250);
    t.diagnostic(`GET /api/disk/rbd/dash_2 status: ${JSON.stringify(owner)}`);
    assert.deepEqual(owner.gateways, {
      'gw-a': { cmd_timed_out_cnt: 0, conn_lost_cnt: 0, lock_lost_cnt: 0 },
      'gw-b': { cmd_timed_out_cnt: 0, conn_lost_cnt: 0, lock_lost_cnt: 0 },
    });
    const ownerPortal = owner.lock_owner === 'gw-a' ? portals()[0]! : portals()[1]!;
    // gwcli info shows the same through the other gateway's API (each gateway reads the map on its own)
    await waitFor('gw-b to read the same from the service map', async () => {
      const st = ((await b.api.must('GET', '/api/disk/rbd/dash_2')).body as { status: { state: string; lock_owner?: string } }).status;
      return st.state === 'Online' && st.lock_owner === owner.lock_owner ? true : undefined;
    }, 30_000, 250);
    const info = await run('node', [join(ROOT, 'bin', 'gwcli.js'), '--api', `http://admin:admin@127.0.0.1:${b.apiPort}`, '/disks/rbd/dash_2', 'info'], { timeoutMs: 30_000 });
    assert.equal(info.code, 0, info.output);
    assert.match(info.stdout, /^State +\.\. Online$/m);
    assert.match(info.stdout, new RegExp(`^Lock Owner +\\.\\. ${owner.lock_owner}$`, 'm'));
    for (const gw of ['gw-a', 'gw-b']) assert.match(info.stdout, new RegExp(`^- ${gw} \\.\\. cmd_timed_out_cnt 0, conn_lost_cnt 0, lock_lost_cnt 0$`, 'm'));

    type Image = { pool: string; image: string; optimized_since: number | null; stats: Record<string, number> | null };
    type Overview = { gateways: { name: string; state: string; num_targets: number; num_sessions: number }[]; images: Image[] };
    // The load runs on through the next test (the screenshot shows its rates); it ends there.
    load = { stop: false, runs: 0, done: Promise.resolve() };
    const l = load;
    l.done = (async () => {
      while (!l.stop) {
        const r = await qemuIo(ownerPortal, C2, 1, IQN, ['write -P 0x5a 0 8M', 'read -P 0x5a 0 8M']);
        assert.equal(r.code, 0, r.output);
        l.runs++;
      }
    })();
    const ov = await waitFor('the overview to show read and write rates of rbd/dash_2', async () => {
      const o = await dash.must<Overview>('GET', '/ui-api/iscsi/overview');
      const s = o.images.find((i) => i.image === 'dash_2')?.stats;
      return s && s['wr']! > 0 && s['rd']! > 0 && s['wr_bytes']! > 0 && s['rd_bytes']! > 0 ? o : undefined;
    }, 60_000, 500);
    t.diagnostic(`overview under load (${l.runs} qemu-io runs so far through ${owner.lock_owner}): ${JSON.stringify(ov.images.map((i) => ({ image: i.image, optimized_since: i.optimized_since, stats: i.stats })))}`);
    assert.deepEqual(ov.gateways.map((g) => [g.name, g.state, g.num_targets]), [
      ['gw-a', 'up', 1],
      ['gw-b', 'up', 1],
    ]);
    assert.deepEqual(ov.images.map((i) => `${i.pool}/${i.image}`), ['rbd/dash_1', 'rbd/dash_2']);
    for (const i of ov.images) assert.ok(typeof i.optimized_since === 'number' && i.optimized_since > 0, `${i.image} has no optimized path`);

    const dump = JSON.parse(await ceph.must('ceph', ['service', 'dump', '--format', 'json'])) as { services: Record<string, { daemons: Record<string, unknown> }> };
    const daemons = Object.keys(dump.services['tcmu-runner']?.daemons ?? {}).filter((d) => d !== 'summary').sort();
    assert.deepEqual(daemons, ['gw-a:rbd/dash_1', 'gw-a:rbd/dash_2', 'gw-b:rbd/dash_1', 'gw-b:rbd/dash_2']);
    const st = await ceph.must('ceph', ['-s']);
    t.diagnostic(`ceph -s: ${st.split('\n').filter((l) => /tcmu-runner|client:/.test(l)).map((l) => l.trim()).join(' | ')}`);
    assert.match(st, /tcmu-runner: 4 portals active/);
  });

  test('headless Chromium renders the overview and the targets list (screenshots in dist/dashboard/)', async (t) => {
    await mkdir(SHOTS, { recursive: true });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 900 });
      await page.goto(`${dash.base}/#/login`, { waitUntil: 'networkidle2', timeout: 60_000 });
      await page.type('input[name=username]', DASH_USER);
      await page.type('input[name=password]', DASH_PASSWORD);
      await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle2', timeout: 60_000 }), page.click('input[type=submit]')]);
      const rows = (): Promise<string[][]> =>
        // (a string: the test is compiled without the DOM library)
        page.evaluate(`[...document.querySelectorAll('datatable-body-row')].map((r) => [...r.querySelectorAll('datatable-body-cell')].map((c) => c.innerText.trim()))`) as Promise<string[][]>;

      await page.goto(`${dash.base}/#/block/iscsi/overview`, { waitUntil: 'networkidle2', timeout: 60_000 });
      const overview = await waitFor('the overview page to list both gateways and rbd/dash_2 with read and write ops', async () => {
        const r = await rows();
        const busy = r.find((x) => x[0] === 'rbd' && x[1] === 'dash_2');
        const ops = (cell: string | undefined): number => Number(/^([\d.]+)/.exec(cell ?? '')?.[1] ?? 0);
        if (r.some((x) => x[0] === 'gw-a') && r.some((x) => x[0] === 'gw-b') && busy !== undefined && ops(busy[5]) > 0 && ops(busy[6]) > 0) return r;
        await page.reload({ waitUntil: 'networkidle2', timeout: 60_000 });
        return undefined;
      }, 30_000, 250);
      await page.screenshot({ path: join(SHOTS, 'iscsi-overview.png'), fullPage: true });
      t.diagnostic(`overview rows: ${JSON.stringify(overview)}`);
      for (const gw of ['gw-a', 'gw-b']) assert.deepEqual(overview.find((x) => x[0] === gw)?.slice(0, 3), [gw, 'up', '1']);
      // (Pool, Image, Backstore, Read Bytes and Write Bytes as sparklines, Read Ops, Write Ops, A/O Since)
      for (const img of ['dash_1', 'dash_2']) {
        const row = overview.find((x) => x[0] === 'rbd' && x[1] === img);
        assert.ok(row !== undefined && row[2] === 'user:rbd (tcmu-runner)' && /ago/.test(row[7] ?? ''), `image row ${JSON.stringify(row)} (want an A/O Since)`);
      }
      await endLoad();

      await page.goto(`${dash.base}/#/block/iscsi/targets`, { waitUntil: 'networkidle2', timeout: 60_000 });
      let seen: string[][] = [];
      const targets = await waitFor('the targets list to show the target', async () => {
        seen = await rows();
        return seen.some((x) => x[1] === IQN) ? seen : undefined;
      }, 30_000, 250).catch(async (err: unknown) => {
        await page.screenshot({ path: join(SHOTS, 'iscsi-targets.png'), fullPage: true });
        throw new Error(`${(err as Error).message}; rows: ${JSON.stringify(seen)}`);
      });
      await page.screenshot({ path: join(SHOTS, 'iscsi-targets.png'), fullPage: true });
      t.diagnostic(`targets rows: ${JSON.stringify(targets)}`);
      // (expand toggle, Target, Portals, Images, # Sessions)
      const row = targets.find((x) => x[1] === IQN)!;
      assert.deepEqual(row.slice(2), ['gw-a:127.0.0.1, gw-b:127.0.0.2', 'rbd/dash_1, rbd/dash_2', '0']);
    } finally {
      await browser.close();
    }
  });

  test('edit: a third disk, new CHAP secret, new target controls, a client removed; initiators see the change through both portals', async () => {
    const status = await dash.task('PUT', `/api/iscsi/target/${encodeURIComponent(IQN)}`, 'iscsi/target/edit', { ...edited(), new_target_iqn: IQN }, 200);
    process.stderr.write(`# dashboard: edit answered ${status}\n`);
    const got = await dash.must<{ target_controls: unknown; clients: { client_iqn: string; auth: Auth }[]; disks: { image: string; lun: number }[] }>('GET', `/api/iscsi/target/${encodeURIComponent(IQN)}`);
    assert.deepEqual(got.target_controls, { cmdsn_depth: 32, dataout_timeout: 25 });
    assert.deepEqual(got.clients.map((c) => [c.client_iqn, c.auth]), [
      [C1, CHAP1B],
      [C2, NO_AUTH],
    ]);
    assert.deepEqual(got.disks.map((d) => [d.image, d.lun]), [
      ['dash_1', 0],
      ['dash_2', 1],
      ['dash_3', 2],
    ]);
    // The gateways applied the target controls (their config document).
    const doc = (await b.api.must('GET', '/api/config')).body as { targets: Record<string, { controls: Record<string, unknown> }> };
    assert.deepEqual(doc.targets[IQN]?.controls, { cmdsn_depth: 32, dataout_timeout: 25 });

    await expectLuns(IQN, { initiator: C1, auth: CHAP1B }, { 0: 'dash_1', 2: 'dash_3' });
    await expectLuns(IQN, { initiator: C2 }, { 1: 'dash_2' });
    await expectRefused(IQN, { initiator: C1, auth: CHAP1 });
    await expectRefused(IQN, { initiator: C3 });
  });

  test('edit: rename the target (the Dashboard deletes and re-creates it)', async () => {
    await dash.task('PUT', `/api/iscsi/target/${encodeURIComponent(IQN)}`, 'iscsi/target/edit', { ...edited(), target_iqn: IQN, new_target_iqn: IQN2 }, 200);
    const list = await dash.must<{ target_iqn: string }[]>('GET', '/api/iscsi/target');
    assert.deepEqual(list.map((t) => t.target_iqn), [IQN2]);
    assert.equal((await dash.call('GET', `/api/iscsi/target/${encodeURIComponent(IQN)}`)).status, 404);
    await expectLuns(IQN2, { initiator: C1, auth: CHAP1B }, { 0: 'dash_1', 2: 'dash_3' });
    await expectLuns(IQN2, { initiator: C2 }, { 1: 'dash_2' });
    await expectRefused(IQN, { initiator: C2 });
  });

  test('delete: the target goes, the images stay', async () => {
    await dash.task('DELETE', `/api/iscsi/target/${encodeURIComponent(IQN2)}`, 'iscsi/target/delete', undefined, 204);
    assert.deepEqual(await dash.must('GET', '/api/iscsi/target'), []);
    const doc = (await a.api.must('GET', '/api/config')).body as { targets: Record<string, unknown>; disks: Record<string, unknown> };
    assert.deepEqual([Object.keys(doc.targets), Object.keys(doc.disks)], [[], []]);
    await expectRefused(IQN2, { initiator: C2 });
    // The Dashboard removes disks with preserve_image=true: the RBD images are still there.
    assert.deepEqual((await ceph.must('rbd', ['ls', 'rbd'])).split('\n').filter((x) => x !== '').sort(), ['dash_1', 'dash_2', 'dash_3']);
    const ov = await dash.must<{ images: unknown[] }>('GET', '/ui-api/iscsi/overview');
    assert.deepEqual(ov.images, []);
  });
});
