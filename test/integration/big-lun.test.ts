/**
 * Sizes and transfer lengths at the edges, end to end: a 3 TiB (sparse) LUN — more than 2^32
 * blocks of 512 bytes, so READ CAPACITY (10) must say FFFFFFFFh and initiators switch to the 16-byte
 * CDBs — written and read at its very end; and single 16 MiB requests, far above MaxBurstLength,
 * that need several R2T sequences and many Data-In PDUs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addClient, Daemon, defineTarget, requireTools, run, TARGET_IQN, type RunResult } from './helpers.js';

const INITIATOR = 'iqn.2024-01.io.example:big';
const TIB = 1024 ** 4;
const SIZE = 3 * TIB;

describe('3 TiB LUN and 16 MiB requests', { timeout: 2 * 60_000 }, () => {
  let d: Daemon;
  const qemuIo = (cmds: string[]): Promise<RunResult> =>
    run(
      'qemu-io',
      [
        '--image-opts',
        ['driver=iscsi', 'transport=tcp', `portal=${d.portal()}`, `target=${TARGET_IQN}`, 'lun=0', `initiator-name=${INITIATOR}`].join(','),
        ...cmds.flatMap((c) => ['-c', c]),
      ],
      { timeoutMs: 60_000 },
    );

  before(async () => {
    requireTools('qemu-io', 'iscsi-readcapacity16');
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/big', '3T');
    await addClient(d.api, INITIATOR, 'rbd/big');
  });

  after(async () => {
    await d?.dispose();
  });

  test('READ CAPACITY (16) reports 3 TiB', async () => {
    const r = await run('iscsi-readcapacity16', ['-i', INITIATOR, d.url()], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, new RegExp(`Total size:${SIZE}\\b`));
    assert.match(r.stdout, new RegExp(`RETURNED LOGICAL BLOCK ADDRESS:${SIZE / 512 - 1}\\b`));
  });

  test('the last 1 MiB (LBA > 2^32) and a block across the 2^32 boundary write and read back', async () => {
    const boundary = 2 ** 32 * 512; // byte offset of LBA 2^32
    const w = await qemuIo([`write -P 0x42 ${SIZE - 1024 * 1024} 1M`, `write -P 0x24 ${boundary - 2048} 4096`]);
    assert.equal(w.code, 0, w.output);
    const r = await qemuIo([`read -P 0x42 ${SIZE - 1024 * 1024} 1M`, `read -P 0x24 ${boundary - 2048} 4096`, `read -P 0x00 ${boundary + 2048} 4096`]);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /Pattern verification failed/);
  });

  test('single 16 MiB write and read requests (R2T sequences, many Data-In PDUs)', async () => {
    const w = await qemuIo(['write -P 0x5e 1048576 16M']);
    assert.equal(w.code, 0, w.output);
    assert.match(w.stdout, /wrote 16777216\/16777216 bytes/);
    const r = await qemuIo(['read -P 0x5e 1048576 16M', 'read -P 0x00 0 1M', 'read -P 0x00 17825792 1M']);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /Pattern verification failed/);
  });
});
