/**
 * **Ceph**: the web console on a gateway with `backstore = rbd` (a cluster from
 * scripts/ceph-mini-start.sh): the disks page offers the cluster's pools (a second pool created
 * here among them), a disk created through it in that pool is an RBD image (`rbd info`), and the
 * overview shows the cluster's health. Screenshot in dist/console/ceph-disks.png.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { CephCluster } from './ceph-helpers.js';
import { launch, SHOTS } from './console-helpers.js';
import { Daemon, waitFor } from './helpers.js';

const POOL = 'consolepool';

describe('web console on Ceph (pools from the cluster)', { timeout: 5 * 60_000 }, () => {
  let ceph: CephCluster;
  let d: Daemon;
  let browser: Browser;
  let page: Page;

  before(async () => {
    ceph = await CephCluster.start({ mgr: false });
    await ceph.must('ceph', ['osd', 'pool', 'create', POOL, '8', '8']);
    await ceph.must('rbd', ['pool', 'init', POOL]);
    d = await Daemon.start({ extra: ceph.settings({ config_store: 'rados' }), readyTimeoutMs: 60_000 });
    ({ browser, page } = await launch());
  });

  after(async () => {
    await browser?.close();
    await d?.dispose();
    await ceph?.stop();
  });

  test('the pool list is the cluster\'s; a disk made in the second pool is an RBD image', async () => {
    const cluster = (await ceph.must('ceph', ['osd', 'pool', 'ls'])).split('\n').filter((p) => p !== '');
    assert.ok(cluster.includes(POOL) && cluster.includes('rbd'), `pools: ${cluster.join(',')}`);
    await page.goto(`${d.api.base}/ui/#/disks`, { waitUntil: 'domcontentloaded' });
    const options = (await waitFor('the pool choice', async () => {
      const o = (await page.evaluate(`[...document.querySelectorAll('#create-disk-pool option')].map((o) => o.value)`)) as string[];
      return o.includes(POOL) ? o : undefined;
    }, 20_000, 100));
    // Every pool the console offers is one of the cluster's, and both RBD pools are offered.
    assert.deepEqual(options.filter((p) => !cluster.includes(p)), [], `offered pools not in the cluster: ${options.join(',')}`);
    assert.ok(options.includes('rbd'));

    await page.select('#create-disk-pool', POOL);
    await page.type('#create-disk-image', 'console_img');
    await page.type('#create-disk-size', '64M');
    // Focus and Enter: a click lands on coordinates, which a re-render under it can shift.
    await page.focus('form:has(#create-disk-title) button[type=submit]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('form:has(#create-disk-title) .ok, form:has(#create-disk-title) .error', { timeout: 60_000 });
    const outcome = (await page.evaluate(`document.querySelector('form:has(#create-disk-title) .ok, form:has(#create-disk-title) .error').textContent`)) as string;
    assert.match(outcome, /disk create\/update successful/);
    const info = JSON.parse(await ceph.must('rbd', ['info', `${POOL}/console_img`, '--format', 'json'])) as { size: number };
    assert.equal(info.size, 64 * 1024 * 1024);
    await page.waitForFunction(`[...document.querySelectorAll('[data-table=disks] tbody th')].some((th) => th.textContent === '${POOL}/console_img')`, { timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'ceph-disks.png'), fullPage: true });

    await page.goto(`${d.api.base}/ui/#/overview`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(`/^HEALTH_/.test(document.querySelector('[data-health]')?.textContent ?? '')`, { timeout: 20_000 });
    // What the API reports for the cluster (read around the page's reading: a one-node cluster may flip OK/WARN).
    const api = async (): Promise<string> => ((await d.api.get('/api/cluster')).body as { health: string }).health;
    const before = await api();
    const shown = (await page.evaluate(`document.querySelector('[data-health]').textContent`)) as string;
    const afterwards = await api();
    assert.ok([before, afterwards].includes(shown), `console shows ${shown}, the API said ${before} then ${afterwards}`);
    assert.match((await page.evaluate(`document.querySelector('#ov-health + p').textContent`)) as string, /Storage \(rbd\)/);
  });
});
