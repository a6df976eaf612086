// gwcli interactive, driven in tmux as a person would: keys typed with send-keys (Tab for
// completion, Enter to run), the screen read back with capture-pane. The seeds' flow against a
// real daemon on 127.0.0.1, `ls /` in the upstream format, then an iSCSI login with the CHAP
// credentials typed at the prompt, and history kept for the next session.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHAP_PASS, CHAP_USER, CLIENT_IQN, Daemon, ROOT, TARGET_IQN, removeDir, requireTools, run, tempDir, waitFor } from './helpers.js';

const GWCLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const WIDTH = 120;

describe('gwcli interactive in tmux: the seeds flow typed at the prompt', { timeout: 3 * 60_000 }, () => {
  let d: Daemon;
  let home: string;
  // A private tmux server (-L): killing it touches no other tmux of the machine.
  const sock = `gwcli-it-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', sock, ...args], { timeoutMs: 10_000 });
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-J', '-S', '-300', '-t', 'gw')).stdout;
  /** Types text literally (no Enter). */
  const type = async (text: string): Promise<void> => void (await tmux('send-keys', '-t', 'gw', '-l', text));
  const key = async (...keys: string[]): Promise<void> => void (await tmux('send-keys', '-t', 'gw', ...keys));
  /** Waits until the screen matches; returns it. */
  const see = (re: RegExp, what = String(re)): Promise<string> => waitFor(what, async () => {
    const s = await screen();
    return re.test(s) ? s : undefined;
  }, 20_000).catch(async (e: unknown) => {
    throw new Error(`${(e as Error).message}\n--- screen ---\n${await screen()}`);
  });
  /** The last non-empty line of the screen (the line being edited). */
  const current = async (): Promise<string> => (await screen()).trimEnd().split('\n').pop() ?? '';
  /** Types a command, runs it and waits for the next prompt after an `ok`. */
  let oks = 0;
  const runOk = async (cmd: string): Promise<void> => {
    await type(cmd);
    await key('Enter');
    oks++;
    await see(new RegExp(`(^ok$[\\s\\S]*){${oks}}`, 'm'), `ok #${oks} after "${cmd}"`);
  };

  before(async () => {
    requireTools('tmux', 'iscsi-ls');
    assert.ok(existsSync(GWCLI), `${GWCLI} missing: run npx tsc -p tsconfig.json`);
    d = await Daemon.start();
    home = await tempDir('gwcli-home-');
    const r = await tmux('new-session', '-d', '-s', 'gw', '-x', String(WIDTH), '-y', '60',
      '-e', `GWCLI_HOME=${home}`, process.execPath, GWCLI, '--api', `http://127.0.0.1:${d.apiPort}`);
    assert.equal(r.code, 0, r.output);
    await see(/^\/> $/m, 'the first prompt');
  });
  after(async () => {
    await tmux('kill-server');
    await d?.dispose();
    if (home !== undefined) await removeDir(home);
  });

  test('typed flow with tab completion of a command, a path and an IQN', async () => {
    // path completion: "cd /isc<Tab>" → "cd /iscsi-targets/"
    await type('cd /isc');
    await key('Tab');
    await waitFor('path completed', async () => ((await current()).endsWith('/> cd /iscsi-targets/') ? true : undefined));
    await key('Enter');
    await see(/^\/iscsi-targets> $/m, 'prompt /iscsi-targets>');
    await runOk(`create ${TARGET_IQN}`);

    // IQN completion (a child node named by its IQN): "cd iqn.2003<Tab>"
    await type('cd iqn.2003');
    await key('Tab');
    await waitFor('target IQN completed', async () => ((await current()).endsWith(`cd ${TARGET_IQN}/`) ? true : undefined));
    await type('gateways');
    await key('Enter');
    await see(/^\/iscsi-target\.\.\.-igw\/gateways> $/m, 'the upstream abbreviated prompt');
    await runOk(`create ${d.gatewayName} 127.0.0.1 skipchecks=true`);

    // command completion: "cre<Tab>" → "create "
    await type('cd /disks');
    await key('Enter');
    await see(/^\/disks> $/m);
    await type('cre');
    await key('Tab');
    await waitFor('command completed', async () => ((await current()).endsWith('/disks> create') ? true : undefined));
    await runOk('pool=rbd image=disk_1 size=1G');

    await type('goto hosts');
    await key('Enter');
    await see(/^\/iscsi-target\.\.\.csi-igw\/hosts> $/m, 'goto hosts');
    await runOk(`create ${CLIENT_IQN}`);
    await see(/^\/iscsi-target\.\.\.at:rh7-client> $/m, 'create cds into the client');
    await runOk(`auth username=${CHAP_USER} password=${CHAP_PASS}`);
    await runOk('disk add rbd/disk_1');

    // IQN completion as a command argument: "delete iqn.1994<Tab>" (not run: cleared with C-u)
    await type('cd ..');
    await key('Enter');
    await see(/^\/iscsi-target\.\.\.csi-igw\/hosts> $/m);
    await type('delete iqn.1994');
    await key('Tab');
    await waitFor('client IQN completed', async () => ((await current()).endsWith(`hosts> delete ${CLIENT_IQN}`) ? true : undefined));
    await key('C-u');
  });

  test('ls / shows the tree in the upstream format, right-aligned to the terminal width', async () => {
    await type('ls /');
    await key('Enter');
    const s = await see(/o- lun 0 \.+ \[rbd\/disk_1\(1G\), Owner: /, 'the tree down to the LUN');
    const lines = s.split('\n');
    const from = lines.findLastIndex((l) => /^o- \/ \.+ \[\.\.\.\]$/.test(l));
    assert.ok(from >= 0, s);
    const tree = lines.slice(from, from + 20).filter((l) => l.includes('o- '));
    // kept for the record (docs, closing notes): the screen as the administrator saw it
    mkdirSync(join(ROOT, 'dist', 'gwcli'), { recursive: true });
    writeFileSync(join(ROOT, 'dist', 'gwcli', 'tmux-screen.txt'), s);
    const expect = [
      /^  o- cluster \.+ \[Clusters: 1\]$/,
      /^  \| o- ceph \.+ \[HEALTH_(OK|WARN)\]$/,
      /^  \|   \| o- rbd \.+ \[\(x1\), Commit: 1G\/\S+ \(\d+%\), Used: \S+\]$/,
      /^  o- disks \.+ \[1G, Disks: 1\]$/,
      /^  \|   o- disk_1 \.+ \[rbd\/disk_1 \(Online, 1G\)\]$/,
      /^  o- iscsi-targets \.+ \[DiscoveryAuth: None, Targets: 1\]$/,
      /^      o- gateways \.+ \[Up: 1\/1, Portals: 1\]$/,
      /^      o- hosts \.+ \[Auth: ACL_ENABLED, Hosts: 1\]$/,
      /^        o- iqn\.1994-05\.com\.redhat:rh7-client \.+ \[Auth: CHAP, Disks: 1\(1G\)\]$/,
    ];
    for (const re of expect) assert.ok(tree.some((l) => re.test(l)), `no line matches ${re}\n${tree.join('\n')}`);
    for (const l of tree) assert.equal(l.length, WIDTH, `not right-aligned to ${WIDTH} columns: "${l}"`);
  });

  test('iscsi-ls logs in with the credentials typed at the prompt; history is kept for the next session', async () => {
    const r = await run('iscsi-ls', ['-s', '-i', CLIENT_IQN, `iscsi://${CHAP_USER}%${CHAP_PASS}@${d.portal()}`], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, new RegExp(`Target:${TARGET_IQN.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /Lun:0\s+Type:DIRECT_ACCESS \(Size:(1023M|1024M|1G)\)/);

    await type('exit');
    await key('Enter');
    await waitFor('gwcli exits (the tmux session ends)', async () => ((await tmux('has-session', '-t', 'gw')).code !== 0 ? true : undefined));
    const hist = readFileSync(join(home, 'history.txt'), 'utf8').split('\n');
    assert.ok(hist.includes('create pool=rbd image=disk_1 size=1G'), hist.join('\n'));
    assert.ok(hist.includes('disk add rbd/disk_1'), hist.join('\n'));

    // a new session starts with that history: Up recalls the last command
    const r2 = await tmux('new-session', '-d', '-s', 'gw', '-x', String(WIDTH), '-y', '60',
      '-e', `GWCLI_HOME=${home}`, process.execPath, GWCLI, '--api', `http://127.0.0.1:${d.apiPort}`);
    assert.equal(r2.code, 0, r2.output);
    await see(/^\/> $/m, 'the first prompt of the second session');
    await key('Up');
    await waitFor('history recalled', async () => ((await current()).endsWith('/> exit') ? true : undefined));
    await key('C-u');
    await type('exit');
    await key('Enter');
  });
});
