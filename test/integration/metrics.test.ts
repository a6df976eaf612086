/**
 * The Prometheus exporter against real peers: qemu-io writes and reads through a CHAP-protected
 * LUN while /metrics is scraped; promtool (Debian `prometheus`) checks a scrape taken under load;
 * the byte counters moved by the I/O qemu-io did (within 1 %), the latency histograms have the
 * observations the command counters say, a failed CHAP login (iscsi-inq with a wrong secret)
 * moves the login failure counter (and the guessing protection's), an initiator outside the ACL
 * the acl reason, a wrong API password the api one; no secret anywhere in the scrape.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parsePromText, sumOf, type PromScrape } from '../../src/util/prom-text.js';
import { addClient, Daemon, defineTarget, QEMU_INITIATOR, requireTools, run, TARGET_IQN, waitFor } from './helpers.js';

const CHAP = { username: 'metricsuser01', password: 'Metr1csSecret9' };
const WRONG = 'Wr0ngMetr1csPw';
const DISK = 'rbd/metrics_disk';
const MIB = 1024 * 1024;
/** qemu-io passes: each writes then reads PASS_MIB MiB (1 MiB commands). */
const PASSES = 6;
const PASS_MIB = 32;

test('metrics: /metrics under qemu-io load passes promtool; counters, histograms and CHAP failures move', { timeout: 120_000 }, async () => {
  requireTools('qemu-io', 'iscsi-inq', 'promtool');
  const t0 = Date.now();
  const d = await Daemon.start();
  try {
    await defineTarget(d.api, d.gatewayName, DISK, `${PASS_MIB}M`);
    await addClient(d.api, QEMU_INITIATOR, DISK, CHAP);
    const labels = { gw_name: d.gatewayName, lun_name: DISK };
    const before = parsePromText(await d.scrape());
    assert.equal(before.types.get('ceph_iscsi_lun_read_bytes_total'), 'counter');
    assert.equal(before.types.get('ceph_iscsi_lun_latency_seconds'), 'histogram');
    assert.equal(sumOf(before, 'ceph_iscsi_lun_mapped', { lun_name: DISK }), 1, 'the LUN is reported mapped');

    const url = `iscsi://${CHAP.username}%${CHAP.password}@${d.portal()}/${TARGET_IQN}/0`;
    const cmds: string[] = [];
    for (let p = 0; p < PASSES; p++) cmds.push('-c', `write -P 0x${(0x30 + p).toString(16)} 0 ${PASS_MIB}M`, '-c', `read -P 0x${(0x30 + p).toString(16)} 0 ${PASS_MIB}M`);
    let finished = false;
    const load = run('qemu-io', ['-f', 'raw', ...cmds, url], { timeoutMs: 90_000 }).finally(() => {
      finished = true;
    });
    // Scrape while qemu-io runs: keep one taken mid-load (its write counter moved, the load not over).
    let midLoad: string | undefined;
    let scrapes = 0;
    while (!finished) {
      const text = await d.scrape();
      scrapes++;
      const moved = sumOf(parsePromText(text), 'ceph_iscsi_lun_write_bytes_total', labels) > sumOf(before, 'ceph_iscsi_lun_write_bytes_total', labels);
      if (moved && !finished) midLoad ??= text;
      await delay(20); // pace the scrapes (a Prometheus scrapes every few seconds)
    }
    const r = await load;
    assert.equal(r.code, 0, `qemu-io failed: ${r.output}`);
    assert.ok(!/Pattern verification failed/.test(r.output), r.output);
    assert.ok(midLoad !== undefined, `no scrape landed during the load (${scrapes} scrapes)`);

    const file = join(d.dir, 'mid-load.prom');
    await writeFile(file, midLoad);
    const check = await run('sh', ['-c', `promtool check metrics < '${file}'`], { timeoutMs: 30_000 });
    console.log(`promtool check metrics (mid-load scrape of ${midLoad.length} bytes, ${scrapes} scrapes during the load): exit ${check.code} ${check.output.trim() || '(no findings)'}`);
    assert.equal(check.code, 0, `promtool check metrics: ${check.output}`);
    assert.equal(check.output.trim(), '', 'promtool has findings');

    const after = parsePromText(await d.scrape());
    const delta = (s: PromScrape, name: string, match: Record<string, string> = labels): number => sumOf(s, name, match) - sumOf(before, name, match);
    const bytes = PASSES * PASS_MIB * MIB;
    const within1 = (what: string, got: number): void => {
      assert.ok(Math.abs(got - bytes) <= bytes * 0.01, `${what}: ${got} bytes, qemu-io moved ${bytes} (more than 1 % apart)`);
    };
    within1('ceph_iscsi_lun_write_bytes_total', delta(after, 'ceph_iscsi_lun_write_bytes_total'));
    within1('ceph_iscsi_lun_read_bytes_total', delta(after, 'ceph_iscsi_lun_read_bytes_total'));
    const client = { ...labels, client_iqn: QEMU_INITIATOR };
    within1('ceph_iscsi_client_write_bytes_total', delta(after, 'ceph_iscsi_client_write_bytes_total', client));
    within1('ceph_iscsi_lun_read_bytes (upstream name)', delta(after, 'ceph_iscsi_lun_read_bytes', client));
    // Each pass is PASS_MIB commands of at most 1 MiB (the LU's transfer limit) each way.
    const reads = delta(after, 'ceph_iscsi_lun_commands_total', { ...labels, op: 'read' });
    const writes = delta(after, 'ceph_iscsi_lun_commands_total', { ...labels, op: 'write' });
    assert.ok(reads >= PASSES * PASS_MIB, `read commands ${reads}`);
    assert.ok(writes >= PASSES * PASS_MIB, `write commands ${writes}`);
    for (const [op, n] of [['read', reads], ['write', writes]] as const) {
      const m = { ...labels, op };
      assert.equal(delta(after, 'ceph_iscsi_lun_latency_seconds_count', m), n, `${op} latency observations = ${op} commands`);
      assert.equal(delta(after, 'ceph_iscsi_lun_latency_seconds_bucket', { ...m, le: '+Inf' }), n);
      assert.ok(delta(after, 'ceph_iscsi_lun_latency_seconds_sum', m) > 0, `${op} latency sum`);
      // Cumulative buckets never go down, and some observation fell below 5 s.
      const buckets = after.samples.filter((s) => s.name === 'ceph_iscsi_lun_latency_seconds_bucket' && s.labels.lun_name === DISK && s.labels.op === op);
      for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), `${op} buckets cumulative`);
      assert.ok(sumOf(after, 'ceph_iscsi_lun_latency_seconds_bucket', { ...m, le: '5' }) > 0, `${op}: observations under 5 s`);
    }
    assert.equal(sumOf(after, 'ceph_iscsi_lun_queue_depth', labels), 0, 'nothing in flight after the load');
    assert.ok(delta(after, 'ceph_iscsi_login_successes_total', { gw_name: d.gatewayName }) >= 1, 'qemu-io login counted');

    // A failed CHAP login moves the failure counter (reason chap), and nothing else.
    const chapBefore = sumOf(after, 'ceph_iscsi_login_failures_total', { reason: 'chap' });
    const aclBefore = sumOf(after, 'ceph_iscsi_login_failures_total', { reason: 'acl' });
    const bad = await run('iscsi-inq', ['-i', QEMU_INITIATOR, `iscsi://${CHAP.username}%${WRONG}@${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0, 'a wrong CHAP secret must not log in');
    const failed = await waitFor('the CHAP failure counted', async () => {
      const s = parsePromText(await d.scrape());
      return sumOf(s, 'ceph_iscsi_login_failures_total', { reason: 'chap' }) > chapBefore ? s : undefined;
    });
    assert.equal(sumOf(failed, 'ceph_iscsi_login_failures_total', { reason: 'chap' }), chapBefore + 1, 'one failed CHAP login, one count');
    // The guessing protection's counters (service iscsi) saw it too.
    assert.equal(sumOf(failed, 'ceph_iscsi_auth_failures_total', { service: 'iscsi', reason: 'chap' }), sumOf(after, 'ceph_iscsi_auth_failures_total', { service: 'iscsi', reason: 'chap' }) + 1);
    // An initiator outside the ACL: reason acl.
    const stranger = await run('iscsi-inq', ['-i', 'iqn.1994-05.com.example:not-in-acl', `iscsi://${d.portal()}/${TARGET_IQN}/0`], { timeoutMs: 20_000 });
    assert.notEqual(stranger.code, 0);
    const refused = parsePromText(await d.scrape());
    assert.equal(sumOf(refused, 'ceph_iscsi_login_failures_total', { reason: 'acl' }), aclBefore + 1, 'ACL refusal counted');
    // A wrong API password: service api, reason password.
    const apiBefore = sumOf(refused, 'ceph_iscsi_auth_failures_total', { service: 'api', reason: 'password' });
    const wrongApi = await fetch(`${d.api.base}/api/config`, { headers: { authorization: 'Basic ' + Buffer.from(`admin:${WRONG}`).toString('base64') } });
    assert.equal(wrongApi.status, 401);
    const text = await d.scrape();
    assert.equal(sumOf(parsePromText(text), 'ceph_iscsi_auth_failures_total', { service: 'api', reason: 'password' }), apiBefore + 1, 'API password failure counted');
    assert.ok(!text.includes(CHAP.password) && !text.includes(WRONG), 'a secret appears in /metrics');
    console.log(`metrics test: ${Date.now() - t0} ms, ${bytes / MIB} MiB each way, ${reads} reads, ${writes} writes`);
  } finally {
    await d.dispose();
  }
});
