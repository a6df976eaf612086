/**
 * `gwcli top` in tmux against two gateways of one target (gw-a on 127.0.0.1 owning the disks,
 * gw-b on 127.0.0.2; their exporters on one prometheus_port, each on its own address, as in
 * production), found from the config through gw-a's REST API. qemu-io loads one LUN through
 * gw-a; the screen (capture-pane) shows both gateways up, non-zero IOPS for the loaded LUN with
 * gw-a marked as its active/optimized owner, and the idle LUN at 0 with its own owner; the sort, filter and quit
 * keys are typed with send-keys.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parsePromText, sumOf } from '../../src/util/prom-text.js';
import { Daemon, defineGatewayPair, freePortOn, GATEWAY_PAIR, QEMU_INITIATOR, requireTools, ROOT, run, TARGET_IQN, waitFor } from './helpers.js';

const GWCLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const LOADED = 'rbd/top_loaded';
const IDLE = 'rbd/top_idle';

describe('gwcli top in tmux: two gateways under load', { timeout: 120_000 }, () => {
  let a: Daemon;
  let b: Daemon;
  let iscsiPort = 0;
  const sock = `gwcli-top-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', sock, ...args], { timeoutMs: 10_000 });
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-t', 'top')).stdout;
  const key = async (...keys: string[]): Promise<void> => void (await tmux('send-keys', '-t', 'top', ...keys));
  const see = (what: string, check: (s: string) => boolean, timeoutMs = 20_000): Promise<string> =>
    waitFor(what, async () => {
      const s = await screen();
      return check(s) ? s : undefined;
    }, timeoutMs).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n--- screen ---\n${await screen()}`);
    });
  /** The columns of the LUN's row: name, owner, size, IOPS, rMB/s, wMB/s, p50, p99, QD, clients. */
  const lunRow = (s: string, lun: string): string[] | undefined => s.split('\n').find((l) => l.startsWith(lun + ' '))?.trim().split(/\s+/);

  let loading = true;
  let load: Promise<void> = Promise.resolve();

  before(async () => {
    requireTools('tmux', 'qemu-io');
    iscsiPort = await freePortOn(GATEWAY_PAIR.map((g) => g.ip));
    let metricsPort = await freePortOn(GATEWAY_PAIR.map((g) => g.ip));
    while (metricsPort === iscsiPort) metricsPort = await freePortOn(GATEWAY_PAIR.map((g) => g.ip));
    const exporter = (ip: string) => ({ prometheus_host: ip, prometheus_port: String(metricsPort) });
    a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort, extra: exporter('127.0.0.1') });
    b = await Daemon.start({ gatewayName: 'gw-b', dataDir: a.dataDir, iscsiPort, extra: exporter('127.0.0.2') });
    await defineGatewayPair(a.api, LOADED, '64M', [QEMU_INITIATOR]);
    await a.api.must('PUT', `/api/disk/${IDLE}`, { mode: 'create', size: '16M', create_image: 'true' });
    await a.api.must('PUT', `/api/targetlun/${TARGET_IQN}`, { disk: IDLE });
    await a.api.must('PUT', `/api/clientlun/${TARGET_IQN}/${QEMU_INITIATOR}`, { disk: IDLE });
    // gw-b exports both LUNs once it has applied the shared config.
    await waitFor('gw-b exporting both LUNs', async () => {
      const r = await fetch(`http://127.0.0.2:${metricsPort}/metrics`);
      const s = parsePromText(await r.text());
      return sumOf(s, 'ceph_iscsi_lun_mapped', { lun_name: LOADED }) + sumOf(s, 'ceph_iscsi_lun_mapped', { lun_name: IDLE }) === 2 ? true : undefined;
    }, 20_000, 100);
    // Load through gw-a (the owner's path) until the test ends: 4 MiB writes and reads in a loop.
    const url = `iscsi://127.0.0.1:${iscsiPort}/${TARGET_IQN}/0`;
    const cmds = Array.from({ length: 40 }, (_, i) => ['-c', `write -P 0x${(0x40 + (i % 16)).toString(16)} 0 4M`, '-c', 'read 0 4M']).flat();
    load = (async () => {
      while (loading) {
        const r = await run('qemu-io', ['-f', 'raw', ...cmds, url], { timeoutMs: 60_000 });
        if (r.code !== 0 && loading) throw new Error(`qemu-io: ${r.output}`);
      }
    })();
    // Without a terminal (a script): two refreshes printed, then exit.
    const once = await run(process.execPath, [GWCLI, 'top', '--config', a.cfgPath, '-i', '0.5', '-n', '2'], { timeoutMs: 20_000 });
    assert.equal(once.code, 0, once.output);
    assert.match(once.stdout, /gateways 2\/2 up/, once.output);
    const r = await tmux('new-session', '-d', '-s', 'top', '-x', '150', '-y', '30', process.execPath, GWCLI, 'top', '--config', a.cfgPath, '-i', '1');
    assert.equal(r.code, 0, r.output);
  });

  after(async () => {
    loading = false;
    await load.catch(() => undefined);
    await tmux('kill-server');
    await a?.dispose();
    await b?.dispose();
  });

  test('both gateways up; the loaded LUN has IOPS and gw-a as its owner; sort, filter and quit keys', async (t) => {
    const t0 = Date.now();
    const loaded = await see('the loaded LUN with IOPS > 0 and owner *gw-a, both gateways up', (s) => {
      const row = lunRow(s, LOADED);
      return /gateways 2\/2 up/.test(s) && row !== undefined && row[1] === '*gw-a' && Number(row[3]) > 0;
    });
    const row = lunRow(loaded, LOADED) ?? [];
    assert.ok(Number(row[4]) + Number(row[5]) > 0, `MB/s of the loaded LUN: ${row.join(' ')}`);
    assert.match(loaded, /^gw-a\s+up\s/m);
    assert.match(loaded, /^gw-b\s+up\s/m);
    // The idle disk's owner is the one the config gave it (the API spreads owners over the gateways).
    const cfg = (await a.api.must('GET', '/api/config')).body as { disks: Record<string, { owner?: string }> };
    const idleOwner = cfg.disks[IDLE]?.owner ?? '?';
    const idle = lunRow(loaded, IDLE);
    assert.ok(idle !== undefined && idle[1] === `*${idleOwner}` && idle[3] === '0', `idle LUN row (owner ${idleOwner} in the config): ${idle?.join(' ')}`);
    t.diagnostic(`top screen under load (after ${Date.now() - t0} ms):\n${loaded.trimEnd()}`);
    console.log(`--- gwcli top, captured with tmux capture-pane ---\n${loaded.trimEnd()}\n---`);

    // Sort key: s cycles iops → read.
    await key('s');
    await see('sort by read', (s) => /sort read/.test(s));
    // Filter: only the idle LUN.
    await key('/');
    await tmux('send-keys', '-t', 'top', '-l', 'idle');
    await key('Enter');
    await see('filtered to the idle LUN', (s) => /filter "idle"/.test(s) && lunRow(s, IDLE) !== undefined && lunRow(s, LOADED) === undefined);
    // Busy only: the idle LUN disappears.
    await key('b');
    await see('busy only: no LUN left', (s) => /busy only/.test(s) && /\(no LUN to show\)/.test(s));
    await key('q');
    await waitFor('gwcli top exited on q', async () => ((await tmux('has-session', '-t', 'top')).code !== 0 ? true : undefined), 10_000);
  });
});
