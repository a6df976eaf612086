/**
 * Performance smoke test (not the benchmark: `npm run bench` compares with tgt). Short qemu-img
 * bench runs with floors ~10x below what this machine class measures (ours: ~7-8 k IOPS at 4 KiB
 * QD1, ~30 k at QD32, >1 GiB/s 1 MiB reads), so they survive a busy shared host yet catch the
 * regressions that matter: a lost TCP_NODELAY or a timer in the command path (QD1 collapses to
 * ~25 IOPS), commands serialised instead of pipelined (QD32 ≈ QD1), per-PDU copies or sync I/O in
 * the data path (MiB/s collapses).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addClient, Daemon, defineTarget, requireTools, run, TARGET_IQN } from './helpers.js';

const INITIATOR = 'iqn.2024-01.io.example:perf';

describe('performance floors (qemu-img bench, loopback)', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;
  let opts: string;

  /** Runs `qemu-img bench` with `args`; returns operations per second. */
  async function bench(args: string[], count: number): Promise<number> {
    const r = await run('qemu-img', ['bench', '-t', 'none', '-c', String(count), ...args, '--image-opts', opts], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.output);
    const secs = Number(/Run completed in ([0-9.]+) seconds/.exec(r.stdout)?.[1]);
    assert.ok(secs > 0, r.output);
    return count / secs;
  }

  before(async () => {
    requireTools('qemu-img');
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '256M');
    await addClient(d.api, INITIATOR, 'rbd/disk_1');
    opts = ['driver=raw', 'file.driver=iscsi', 'file.transport=tcp', `file.portal=${d.portal()}`, `file.target=${TARGET_IQN}`, 'file.lun=0', `file.initiator-name=${INITIATOR}`].join(',');
    // Write the whole LUN once (allocation, page cache) so reads hit data, not holes.
    await bench(['-w', '-d', '8', '-s', '1M'], 256);
  });

  after(async () => {
    await d?.dispose();
  });

  test('4 KiB random read QD1 ≥ 800 IOPS (no Nagle/timer in the command path)', async (t) => {
    const iops = await bench(['-d', '1', '-s', '4k', '-S', String(8191 * 4096)], 4000);
    t.diagnostic(`QD1 4 KiB read: ${iops.toFixed(0)} IOPS`);
    assert.ok(iops >= 800, `${iops.toFixed(0)} IOPS`);
  });

  test('4 KiB random read QD32 ≥ 2.5 k IOPS and ≥ 1.2 x QD1 (commands pipelined)', async (t) => {
    const qd1 = await bench(['-d', '1', '-s', '4k', '-S', String(8191 * 4096)], 4000);
    const qd32 = await bench(['-d', '32', '-s', '4k', '-S', String(8191 * 4096)], 20000);
    t.diagnostic(`QD32 4 KiB read: ${qd32.toFixed(0)} IOPS (QD1 ${qd1.toFixed(0)})`);
    assert.ok(qd32 >= 2500, `${qd32.toFixed(0)} IOPS`);
    assert.ok(qd32 >= 1.2 * qd1, `QD32 ${qd32.toFixed(0)} vs QD1 ${qd1.toFixed(0)}: commands look serialised`);
  });

  test('1 MiB sequential read ≥ 100 MiB/s and write ≥ 50 MiB/s at QD8', async (t) => {
    const rd = await bench(['-d', '8', '-s', '1M'], 512);
    const wr = await bench(['-w', '-d', '8', '-s', '1M'], 256);
    t.diagnostic(`1 MiB QD8: read ${rd.toFixed(0)} MiB/s, write ${wr.toFixed(0)} MiB/s`);
    assert.ok(rd >= 100, `read ${rd.toFixed(0)} MiB/s`);
    assert.ok(wr >= 50, `write ${wr.toFixed(0)} MiB/s`);
  });
});
