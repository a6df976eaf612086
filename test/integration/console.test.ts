/**
 * The web console (issue 12) in headless Chromium against the real daemon: served under /ui/
 * behind the API's Basic auth; the seeds' flow done through its forms (target, gateway, disk,
 * LUN, client, CHAP, LUN masking), then `iscsi-ls -s` logs in with the credentials typed there;
 * a wrong CHAP secret shows the API's own message next to the password field; the sessions page
 * shows qemu-io's session and non-zero IOPS while it runs; resize, snapshot, host group and
 * target controls through the other pages; every page keyboard-reachable, labelled, and without
 * horizontal scrolling at 390 px. Screenshots of each page go to dist/console/.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import { launch, SHOTS } from './console-helpers.js';
import { CHAP_PASS, CHAP_USER, CLIENT_IQN, Daemon, defineGatewayPair, freePortOn, GATEWAY_PAIR, requireTools, run, TARGET_IQN, waitFor } from './helpers.js';

const DISK = 'rbd/disk_1';
const PAGES = ['overview', 'targets', 'disks', 'hosts', 'sessions'] as const;

interface Msg {
  message?: unknown;
}

async function openPage(page: Page, ui: string, name: (typeof PAGES)[number]): Promise<void> {
  await page.goto(`${ui}#/${name}`, { waitUntil: 'domcontentloaded' });
  // aria-busy until the configuration is in: the page's forms are rendered anew then.
  await page.waitForSelector(`main[data-page="${name}"][aria-busy="false"]`, { timeout: 10_000 });
}


describe('web console in headless Chromium (/ui/)', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;
  let browser: Browser;
  let page: Page;
  let ui: string;
  const pageErrors: string[] = [];

  before(async () => {
    requireTools('iscsi-ls', 'qemu-io');
    d = await Daemon.start();
    ui = `${d.api.base}/ui/`;
    ({ browser, page } = await launch());
    // Whatever the page's own script throws or the CSP blocks fails the test at its end.
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
    // 400: refusals the forms show; 401: the challenge before the credentials.
    page.on('response', (r) => {
      if (r.status() >= 402) pageErrors.push(`${r.status()} ${r.url()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await d?.dispose();
  });

  after(() => {
    // Refused API calls are the forms' business (shown at the field); nothing else may go wrong in the page.
    assert.deepEqual(pageErrors, [], 'errors in the page');
  });

  const go = (name: (typeof PAGES)[number]): Promise<void> => openPage(page, ui, name);
  /**
   * Types into the field `id` (replacing its text). Through a locator: it waits for the field and
   * retries when the page re-renders it under the click (seen in CI: "Node is detached").
   */
  const type = async (id: string, text: string): Promise<void> => {
    await page.locator(`#${id}`).fill(text);
    const value = await page.$eval(`#${id}`, (el) => (el as unknown as { value: string }).value);
    assert.equal(value, text, `#${id} holds another text than was typed`);
  };
  /**
   * Presses a button (or summary) from the keyboard: focus, then Enter. A mouse click lands on
   * coordinates, and a re-render that shifts the layout under it (the page polls every second)
   * can make it miss.
   */
  const press = async (target: string | ElementHandle, key: 'Enter' | 'Space' = 'Enter'): Promise<void> => {
    if (typeof target === 'string') {
      await page.waitForSelector(target, { timeout: 10_000 });
      await page.focus(target);
    } else {
      await target.focus();
    }
    await page.keyboard.press(key);
  };
  /**
   * Submits the form `formSel` and waits for its outcome line; returns it, or throws with the
   * error the form shows (or, when nothing shows, with the tail of the daemon's log).
   */
  const submitForm = async (formSel: string, timeout = 30_000): Promise<string> => {
    await press(`${formSel} button[type=submit]:not([disabled])`);
    const sel = `${formSel} .ok, ${formSel} .error`;
    try {
      await page.waitForSelector(sel, { timeout });
    } catch (err) {
      const log = (await readFile(d.logPath, 'utf8').catch(() => '')).split('\n').slice(-25).join('\n');
      throw new Error(`${formSel}: no outcome in ${timeout} ms (${String(err)}); daemon log tail:\n${log}`);
    }
    const out = (await page.evaluate(`[...document.querySelectorAll(${JSON.stringify(sel)})].map((e) => (e.className + ': ' + e.textContent))`)) as string[];
    const err = out.find((x) => x.startsWith('error'));
    if (err !== undefined) throw new Error(`${formSel}: ${err}`);
    return out.join('; ');
  };
  /** Submits the form titled `form` (its heading's id is `<form>-title`). */
  const submit = (form: string): Promise<string> => submitForm(`form:has(#${form}-title)`);
  /** Waits until the config document shows `what`. */
  const config = async <T>(what: string, pick: (c: Record<string, any>) => T | undefined): Promise<T> =>
    waitFor(what, async () => {
      const r = await d.api.get('/api/config');
      return r.status === 200 ? pick(r.body as Record<string, any>) : undefined;
    }, 10_000, 100);

  test('/ui/ is behind the API\'s Basic auth and serves the built assets', async () => {
    const anon = await fetch(ui);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await fetch(ui, { headers: { authorization: 'Basic ' + Buffer.from('admin:nope').toString('base64') } });
    assert.equal(wrong.status, 401);
    const auth = { authorization: 'Basic ' + Buffer.from('admin:admin').toString('base64') };
    const index = await fetch(ui, { headers: auth });
    assert.equal(index.status, 200);
    const html = await index.text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, `no bundled script in index.html: ${html}`);
    const js = await fetch(d.api.base + script, { headers: auth });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.doesNotMatch(html + (await js.text()), /https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+\//i, 'the console loads something from another origin');
    const stats = await d.api.get('/api/_stats');
    assert.equal(stats.status, 200);
    assert.equal((stats.body as { gateway: string }).gateway, d.gatewayName);
  });

  test('the seeds\' flow through the console; a wrong CHAP secret shows the API\'s message at the field; iscsi-ls logs in', async () => {
    await go('targets');
    await type('create-target-iqn', TARGET_IQN);
    assert.match(await submit('create-target'), /Target defined successfully/);
    // The gateway name is filled in with the gateway serving the console.
    await page.waitForFunction(`document.querySelector('#add-gateway-gateway')?.value === ${JSON.stringify(d.gatewayName)}`, { timeout: 10_000 });
    await type('add-gateway-ip_address', '127.0.0.1');
    await press('#add-gateway-skipchecks', 'Space');
    assert.match(await submit('add-gateway'), /Gateway creation successful/);

    await go('disks');
    await type('create-disk-image', 'disk_1');
    await type('create-disk-size', '1G');
    assert.match(await submit('create-disk'), /disk create\/update successful/);
    await page.waitForFunction(`[...document.querySelectorAll('#map-disk-disk option')].some((o) => o.value === ${JSON.stringify(DISK)})`, { timeout: 10_000 });
    assert.match(await submit('map-disk'), /Target LUN mapping updated successfully/);

    await go('hosts');
    await type('create-client-client', CLIENT_IQN);
    assert.match(await submit('create-client'), /client create\/update successful/);
    await page.waitForFunction(`[...document.querySelectorAll('#client-chap-client option')].some((o) => o.value === ${JSON.stringify(CLIENT_IQN)})`, { timeout: 10_000 });

    // A secret too short: the API refuses it and the console puts that message under the password field.
    await type('client-chap-username', CHAP_USER);
    await type('client-chap-password', 'short');
    await press('form:has(#client-chap-title) button[type=submit]');
    await page.waitForSelector('#client-chap-password-error', { timeout: 10_000 });
    const shown = (await page.evaluate(`document.querySelector('#client-chap-password-error').textContent`)) as string;
    const api = await d.api.put(`/api/clientauth/${TARGET_IQN}/${CLIENT_IQN}`, { username: CHAP_USER, password: 'short', mutual_username: '', mutual_password: '' });
    assert.equal(api.status, 400);
    assert.equal(shown, (api.body as Msg).message, 'the console shows another text than the API answered');
    const a11y = (await page.evaluate(`(() => { const i = document.querySelector('#client-chap-password'); return [i.getAttribute('aria-invalid'), i.getAttribute('aria-describedby'), document.activeElement === i]; })()`)) as [string, string, boolean];
    assert.deepEqual([a11y[0], a11y[1].includes('client-chap-password-error'), a11y[2]], ['true', true, true], 'the refused field is marked invalid, described by the message and focused');
    await page.screenshot({ path: join(SHOTS, 'hosts-chap-error.png'), fullPage: true });

    await type('client-chap-password', CHAP_PASS);
    await submit('client-chap');
    await config('the CHAP user in the config', (c) => (c['targets']?.[TARGET_IQN]?.clients?.[CLIENT_IQN]?.auth?.username === CHAP_USER ? true : undefined));
    await page.waitForFunction(`[...document.querySelectorAll('#client-lun-disk option')].some((o) => o.value === ${JSON.stringify(DISK)})`, { timeout: 10_000 });
    assert.match(await submit('client-lun'), /client masking update successful/);
    await config('the LUN mapped to the client', (c) => (c['targets']?.[TARGET_IQN]?.clients?.[CLIENT_IQN]?.luns?.[DISK] !== undefined ? true : undefined));

    // The initiator logs in with what was typed into the console.
    const ls = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 30_000 });
    assert.equal(ls.code, 0, ls.output);
    assert.match(ls.output, new RegExp(`Target:${TARGET_IQN.replace(/\./g, '\\.')}`));
    assert.match(ls.output, /Lun:0\s+Type:DIRECT_ACCESS \(Size:\d+M|Size:1G/, ls.output);
    const wrong = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%wrongpassw0rd1@${d.portal()}`], { timeoutMs: 30_000 });
    assert.doesNotMatch(wrong.output, /Lun:0/, 'a wrong CHAP secret listed the LUN');
    await page.screenshot({ path: join(SHOTS, 'hosts.png'), fullPage: true });
    // What was typed into the CHAP form never reaches the daemon's log.
    assert.doesNotMatch(await readFile(d.logPath, 'utf8'), new RegExp(CHAP_PASS), 'the CHAP secret is in the daemon log');
  });

  test('sessions page: qemu-io\'s session and non-zero IOPS on the live chart while it writes', async () => {
    const opts = ['driver=iscsi', 'transport=tcp', `portal=${d.portal()}`, `target=${TARGET_IQN}`, 'lun=0', `initiator-name=${CLIENT_IQN}`, `user=${CHAP_USER}`, `password=${CHAP_PASS}`].join(',');
    const qemu: ChildProcess = spawn('qemu-io', ['--image-opts', opts], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stop = false;
    const exited = new Promise<number | null>((resolve) => qemu.on('exit', (code) => resolve(code)));
    // Commands as fast as qemu-io takes them: the pipe's back-pressure paces this loop.
    const batch = Array.from({ length: 64 }, (_, i) => `write -P 0x5a ${(i % 16) * 65536} 64k\n`).join('');
    const feeder = (async () => {
      const stdin = qemu.stdin;
      if (stdin === null) return;
      stdin.on('error', () => undefined);
      while (!stop && qemu.exitCode === null) {
        if (!stdin.write(batch)) await new Promise<void>((resolve) => { stdin.once('drain', resolve); qemu.once('exit', () => resolve()); });
      }
      stdin.end();
    })();
    try {
      await go('sessions');
      await page.waitForFunction(`[...document.querySelectorAll('[data-table=sessions] tbody th')].some((th) => th.textContent.includes(${JSON.stringify(CLIENT_IQN)}))`, { timeout: 20_000 });
      const row = (await page.evaluate(`[...document.querySelectorAll('[data-table=sessions] tbody tr')].map((r) => r.innerText).find((t) => t.includes(${JSON.stringify(CLIENT_IQN)}))`)) as string;
      assert.match(row, new RegExp(TARGET_IQN.replace(/\./g, '\\.')));
      assert.match(row, /127\.0\.0\.1/);
      assert.match(row, /CHAP/);
      // The negotiated parameters, as the login answered them (qemu asks for no digests).
      await press('[data-table=sessions] [data-negotiated] summary');
      const params = (await page.evaluate(`Object.fromEntries([...document.querySelectorAll('[data-table=sessions] [data-negotiated] dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))`)) as Record<string, string>;
      assert.equal(params['HeaderDigest'], 'None');
      assert.match(params['MaxBurstLength'] ?? '', /^\d+$/);
      assert.match(params['ImmediateData'] ?? '', /^(Yes|No)$/);
      const chart = `[data-lun="${DISK}"] [data-chart$="-iops"]`;
      await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(chart)})?.dataset.last) > 0`, { timeout: 20_000 });
      const iops = Number(await page.evaluate(`document.querySelector(${JSON.stringify(chart)}).dataset.last`));
      assert.ok(iops > 0, `IOPS ${iops}`);
      // A few seconds of line for the screenshot, every point of them under load.
      await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(chart)})?.dataset.points) >= 6`, { timeout: 20_000 });
      assert.ok(Number(await page.evaluate(`document.querySelector(${JSON.stringify(chart)}).dataset.last`)) > 0, 'IOPS dropped to 0 while qemu-io writes');
      // The overview's totals count the same I/O.
      await page.screenshot({ path: join(SHOTS, 'sessions.png'), fullPage: true });
      await go('overview');
      await page.waitForFunction(`Number(document.querySelector('[data-tile=IOPS] .tile-value')?.textContent) > 0`, { timeout: 20_000 });
      await page.waitForFunction(`document.querySelector('[data-tile=Sessions] .tile-value')?.textContent === '1'`, { timeout: 10_000 });
      await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
    } finally {
      stop = true;
      await feeder;
      if (qemu.exitCode === null && qemu.pid !== undefined) process.kill(qemu.pid, 'SIGTERM');
      await exited;
    }
  });

  test('disks (resize, snapshot, delete refused), hosts (host group, unmap), targets (controls, refusals, delete), each checked through the API or an initiator', async () => {
    await go('disks');
    await page.waitForSelector(`[data-disk-details="${DISK}"]`, { timeout: 10_000 });
    const resizeForm = 'form:has(input[name=size][placeholder="2G"])';
    const resizeId = (await page.evaluate(`document.querySelector('${resizeForm} input[name=size]').id`)) as string;
    await type(resizeId, '2G');
    await submitForm(resizeForm);
    const size = await waitFor('the disk at 2 GiB', async () => {
      const r = await d.api.get(`/api/disk/${DISK}`);
      const s = (r.body as { size?: number }).size;
      return s === 2 * 1024 ** 3 ? s : undefined;
    }, 10_000, 100);
    assert.equal(size, 2 * 1024 ** 3);
    // Snapshots (the file backstore has them): made, listed, deleted through the console.
    const snapId = (await page.evaluate(`document.querySelector('form:has(input[name=name]) input[name=name]').id`)) as string;
    await type(snapId, 'snap1');
    await press('form:has(input[name=name]) button[type=submit]');
    await page.waitForFunction(`[...document.querySelectorAll('.snapshots li')].some((li) => li.textContent.startsWith('snap1'))`, { timeout: 10_000 });
    assert.deepEqual(((await d.api.get(`/api/disk/${DISK}`)).body as { snapshots?: string[] }).snapshots, ['snap1']);
    await page.screenshot({ path: join(SHOTS, 'disks.png'), fullPage: true });
    const [delSnap] = await page.$$('xpath/.//button[normalize-space()="Delete snap1"]');
    assert.ok(delSnap, 'no Delete snap1 button');
    await press(delSnap);
    await page.waitForFunction(`document.querySelectorAll('.snapshots li').length === 0`, { timeout: 10_000 });
    // Deleting a disk that is still mapped: confirmed in the dialog, refused by the API, its message shown next to the button.
    page.once('dialog', (dialog) => void dialog.accept());
    const [delDisk] = await page.$$(`xpath/.//button[normalize-space()="Delete ${DISK}"]`);
    assert.ok(delDisk, `no Delete ${DISK} button`);
    await press(delDisk);
    await page.waitForFunction(`[...document.querySelectorAll('.action .error')].some((e) => e.textContent.startsWith('Unable to delete ${DISK}'))`, { timeout: 10_000 });
    assert.equal((await d.api.get(`/api/disk/${DISK}`)).status, 200, 'the mapped disk is gone');

    // A group takes clients without LUNs of their own (upstream's rule): a second client, made here.
    const second = `${CLIENT_IQN}-2`;
    await go('hosts');
    await type('create-client-client', second);
    await submit('create-client');
    await type('hostgroup-group', 'group1');
    await type('hostgroup-members', second);
    await type('hostgroup-disks', DISK);
    await submit('hostgroup');
    await config('host group group1', (c) => (c['targets']?.[TARGET_IQN]?.groups?.['group1']?.members?.includes(second) === true ? true : undefined));
    await page.waitForFunction(`[...document.querySelectorAll('[data-table=groups] tbody th')].some((th) => th.textContent === 'group1')`, { timeout: 10_000 });
    // LUN masking undone from the clients table: the initiator still logs in but sees no LUN.
    const [unmap] = await page.$$(`xpath/.//button[normalize-space()="Unmap ${DISK} from ${CLIENT_IQN}"]`);
    assert.ok(unmap, 'no Unmap button for the client LUN');
    await press(unmap);
    await config('the client without LUNs', (c) => (Object.keys(c['targets']?.[TARGET_IQN]?.clients?.[CLIENT_IQN]?.luns ?? { x: 1 }).length === 0 ? true : undefined));
    const ls = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 30_000 });
    assert.match(ls.output, new RegExp(`Target:${TARGET_IQN.replace(/\./g, '\\.')}`), ls.output);
    assert.doesNotMatch(ls.output, /Lun:0/, 'the unmapped LUN is still listed');

    await go('targets');
    await press(`[data-target="${TARGET_IQN}"] details summary`);
    const controls = `[data-target="${TARGET_IQN}"] textarea[name=controls]`;
    const controlsId = (await page.evaluate(`document.querySelector('${controls}').id`)) as string;
    await type(controlsId, '{"cmdsn_depth": 64}');
    const controlsForm = `[data-target="${TARGET_IQN}"] form:has(textarea[name=controls])`;
    assert.match(await submitForm(controlsForm), /Target reconfigured/);
    await config('cmdsn_depth 64', (c) => (Number(c['targets']?.[TARGET_IQN]?.controls?.cmdsn_depth) === 64 ? true : undefined));
    // Refusals of the target controls, each with the API's own text: ACL off while clients exist; target CHAP while ACLs are on.
    const [aclOff] = await page.$$(`xpath/.//*[@data-target="${TARGET_IQN}"]//button[normalize-space()="Disable ACL"]`);
    assert.ok(aclOff, 'no Disable ACL button');
    await press(aclOff);
    await page.waitForFunction(`[...document.querySelectorAll('[data-target] .action .error')].some((e) => e.textContent === 'Cannot disable ACL authentication because target has clients')`, { timeout: 10_000 });
    const chapForm = `[data-target="${TARGET_IQN}"] form:has(input[name=mutual_password])`;
    const chapUser = (await page.evaluate(`document.querySelector('${chapForm} input[name=username]').id`)) as string;
    const chapPass = (await page.evaluate(`document.querySelector('${chapForm} input[name=password]').id`)) as string;
    await type(chapUser, 'targetuser1');
    await type(chapPass, 'targetpassw0rd');
    await press(`${chapForm} button[type=submit]`);
    await page.waitForSelector(`${chapForm} .error`, { timeout: 10_000 });
    const apiSays = await d.api.put(`/api/targetauth/${TARGET_IQN}`, { username: 'targetuser1', password: 'targetpassw0rd' });
    assert.equal(apiSays.status, 400, apiSays.text);
    assert.equal(await page.evaluate(`document.querySelector('${chapForm} .error').textContent`), (apiSays.body as Msg).message);
    await page.screenshot({ path: join(SHOTS, 'targets.png'), fullPage: true });
    // A second target made and deleted (confirmed in the dialog) through the console.
    const other = `${TARGET_IQN}-2`;
    await type('create-target-iqn', other);
    assert.match(await submit('create-target'), /Target defined successfully/);
    await page.waitForSelector(`[data-target="${other}"]`, { timeout: 10_000 });
    page.once('dialog', (dialog) => void dialog.accept());
    const [del] = await page.$$(`xpath/.//*[@data-target="${other}"]//button[normalize-space()="Delete target"]`);
    assert.ok(del, 'no Delete target button');
    await press(del);
    await config('the second target gone', (c) => (c['targets']?.[other] === undefined ? true : undefined));
    await page.waitForFunction(`document.querySelector('[data-target="${other}"]') === null`, { timeout: 10_000 });
  });

  test('keyboard, labels, and a narrow window', async () => {
    await page.goto('about:blank');
    await go('overview');
    // Keyboard: the first Tab reaches the skip link, then the nav; Enter on a nav link opens the page.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(`document.activeElement.textContent`), 'Skip to content');
    let reached = '';
    for (let i = 0; i < 10 && reached !== 'Disks'; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate(`document.activeElement.textContent`)) as string;
    }
    assert.equal(reached, 'Disks', 'the Disks link is not reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('main[data-page="disks"]', { timeout: 10_000 });
    // A form filled and sent with the keyboard only: focus the field, type, Enter.
    await go('hosts');
    await page.focus('#create-client-client');
    await page.keyboard.type(`${CLIENT_IQN}-3`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('form:has(#create-client-title) .ok', { timeout: 10_000 });
    await config('the client added with the keyboard', (c) => (c['targets']?.[TARGET_IQN]?.clients?.[`${CLIENT_IQN}-3`] !== undefined ? true : undefined));

    for (const name of PAGES) {
      await go(name);
      await page.waitForFunction(`document.querySelector('main h2') !== null`, { timeout: 10_000 });
      const unlabelled = (await page.evaluate(
        `[...document.querySelectorAll('input, select, textarea')].filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id || e.name)`,
      )) as string[];
      assert.deepEqual(unlabelled, [], `${name}: controls without a label`);
      const unnamed = (await page.evaluate(`[...document.querySelectorAll('button, a')].filter((e) => e.textContent.trim() === '' && !e.getAttribute('aria-label')).length`)) as number;
      assert.equal(unnamed, 0, `${name}: buttons or links without a name`);
    }

    await page.setViewport({ width: 390, height: 800 });
    for (const name of PAGES) {
      await go(name);
      await page.waitForFunction(`document.querySelector('main h2') !== null`, { timeout: 10_000 });
      const [scroll, width, widest] = (await page.evaluate(
        `[document.documentElement.scrollWidth, window.innerWidth, [...document.querySelectorAll('main *, header *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).map((e) => e.tagName + '.' + e.className + '#' + e.id + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 8).join(' ')]`,
      )) as [number, number, string];
      assert.ok(scroll <= width, `${name}: ${scroll} px wide in a ${width} px window (horizontal scrolling): ${widest}`);
      await page.screenshot({ path: join(SHOTS, `narrow-${name}.png`), fullPage: true });
    }
    await page.setViewport({ width: 1280, height: 800 });
  });
});

describe('web console of one gateway of two (gw-a on 127.0.0.1, gw-b on 127.0.0.2)', { timeout: 2 * 60_000 }, () => {
  // One data dir, one iSCSI port on both addresses (as multi-gateway.test.ts).
  const gw: Partial<Record<'a' | 'b', Daemon>> = {};
  let chrome: { browser: Browser; page: Page } | undefined;

  before(async () => {
    const port = await freePortOn(['127.0.0.1', '127.0.0.2']);
    gw.a = await Daemon.start({ gatewayName: 'gw-a', iscsiPort: port });
    gw.b = await Daemon.start({ gatewayName: 'gw-b', dataDir: gw.a.dataDir, iscsiPort: port });
    await defineGatewayPair(gw.a.api, DISK, '64M', [CLIENT_IQN]);
    chrome = await launch();
  });

  after(async () => {
    await chrome?.browser.close();
    for (const d of [gw.a, gw.b]) await d?.dispose();
  });

  const stateOf = async (name: string): Promise<string> =>
    (await chrome!.page.evaluate(`document.querySelector('[data-gateway-state="${name}"]')?.textContent ?? ''`)) as string;

  test('both portals and the LUN owner; the peer shown down once gw-b is killed and its lease lapsed', async () => {
    const a = gw.a!;
    const b = gw.b!;
    const page = chrome!.page;
    const ui = `${a.api.base}/ui/`;
    await openPage(page, ui, 'targets');
    for (const p of GATEWAY_PAIR) {
      await page.waitForFunction(`[...document.querySelectorAll('[data-table=portals] tbody tr')].some((r) => r.innerText.includes(${JSON.stringify(p.name)}) && r.innerText.includes(${JSON.stringify(p.ip)}))`, { timeout: 10_000 });
    }
    await openPage(page, ui, 'disks');
    await page.waitForFunction(`[...document.querySelectorAll('[data-table=disks] tbody tr')].some((r) => r.innerText.includes(${JSON.stringify(DISK)}) && r.cells[3]?.textContent === 'gw-a')`, { timeout: 10_000 });
    await openPage(page, ui, 'overview');
    await page.waitForFunction(`document.querySelector('[data-gateway-state="gw-b"]')?.textContent.startsWith('up (LUN paths active-non-optimized')`, { timeout: 15_000 }).catch(async () => {
      throw new Error(`gw-b is not shown up with an active/non-optimized path: '${await stateOf('gw-b')}'`);
    });
    assert.match(await stateOf('gw-a'), /^up \(this console\)/);
    await page.screenshot({ path: join(SHOTS, 'multi-gateway-overview.png'), fullPage: true });

    const ex = await b.stop('SIGKILL');
    assert.equal(ex.signal, 'SIGKILL');
    await page.waitForFunction(`document.querySelector('[data-gateway-state="gw-b"]')?.textContent.startsWith('down (LUN paths unavailable')`, { timeout: 20_000 }).catch(async () => {
      throw new Error(`gw-b is not shown down after SIGKILL: '${await stateOf('gw-b')}'`);
    });
    await openPage(page, ui, 'sessions');
    await page.waitForFunction(`document.querySelector('[data-lun="${DISK}"]')?.innerText.includes('gw-b unavailable')`, { timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'multi-gateway-down.png'), fullPage: true });
  });
});
