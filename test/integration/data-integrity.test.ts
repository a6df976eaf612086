/**
 * Whole-LUN data integrity with a real workload: import a disk image with `qemu-img convert`
 * (large writes, write-zeroes/UNMAP for the zero areas, GET LBA STATUS), then `qemu-img compare`
 * the LUN with the source byte for byte, then overwrite it with a second image and compare again
 * (the zero areas of the second image must read back as zeroes where the first had data).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addClient, Daemon, defineTarget, removeDir, requireTools, run, TARGET_IQN, tempDir } from './helpers.js';

const INITIATOR = 'iqn.2024-01.io.example:convert';
const MIB = 1024 * 1024;
const SIZE = 64 * MIB;

/** A raw image of SIZE bytes: random data in the MiB slots where `data(i)` is true, zeroes (holes) elsewhere. */
async function makeImage(path: string, data: (i: number) => boolean): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(SIZE);
    for (let i = 0; i < SIZE / MIB; i++) {
      if (data(i)) await fh.write(randomBytes(MIB), 0, MIB, i * MIB);
    }
    // An unaligned tail of data inside a zero slot, to exercise partial blocks.
    await fh.write(randomBytes(1000), 0, 1000, 5 * MIB + 12_345);
  } finally {
    await fh.close();
  }
}

describe('qemu-img convert into the LUN and compare', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;
  let dir: string;
  let lun: string;

  before(async () => {
    requireTools('qemu-img');
    dir = await tempDir('igw-convert-');
    d = await Daemon.start();
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '64M');
    await addClient(d.api, INITIATOR, 'rbd/disk_1');
    lun = ['driver=raw', 'file.driver=iscsi', 'file.transport=tcp', `file.portal=${d.portal()}`, `file.target=${TARGET_IQN}`, 'file.lun=0', `file.initiator-name=${INITIATOR}`].join(',');
  });

  after(async () => {
    await d?.dispose();
    if (dir) await removeDir(dir);
  });

  async function importAndCompare(src: string): Promise<void> {
    // -n: the target exists; --target-image-opts: the LUN is given as options (initiator name).
    const c = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-t', 'none', '--target-image-opts', src, lun], { timeoutMs: 120_000 });
    assert.equal(c.code, 0, c.output);
    const cmp = await run('qemu-img', ['compare', '--image-opts', `driver=raw,file.filename=${src}`, lun], { timeoutMs: 120_000 });
    assert.equal(cmp.code, 0, cmp.output);
    assert.match(cmp.stdout, /Images are identical/);
  }

  test('an image with data in even MiB slots imports identically', async () => {
    const a = join(dir, 'a.raw');
    await makeImage(a, (i) => i % 2 === 0);
    await importAndCompare(a);
  });

  test('a second image (data in odd slots) overwrites it identically, zero slots included', async () => {
    const b = join(dir, 'b.raw');
    await makeImage(b, (i) => i % 2 === 1 && i % 5 !== 0);
    await importAndCompare(b);
  });

  test('the comparison itself detects a difference', async () => {
    const c = join(dir, 'c.raw');
    await makeImage(c, () => false);
    const cmp = await run('qemu-img', ['compare', '--image-opts', `driver=raw,file.filename=${c}`, lun], { timeoutMs: 120_000 });
    assert.equal(cmp.code, 1, cmp.output);
    assert.match(cmp.stdout, /Content mismatch/);
  });
});
