/**
 * Guessing protection, measured against the real daemon (issue 11 item 5).
 *
 * "Before": a daemon with the back-off off (auth_failure_threshold = 0, today's behaviour) takes
 * 1000 wrong CHAP logins and 1000 wrong API passwords from one client, one after the other; every
 * one is checked, so 1000 / elapsed is the attacker's rate of checked guesses.
 * "After": a daemon with the default settings takes the same sequential attack for a fixed time.
 * The number of guesses it really checked is read from its own audit log (the `failures` count of
 * the attacked client's last "login failed" line), so refusals without a check are not counted
 * as guesses. Time for 1000 checked guesses at the measured rate is a lower bound (the back-off
 * only grows until its cap), and it must be at least 100x the "before" time. During the attack a
 * correct login from another client must succeed within 1 s: another initiator name on the same
 * address (the harder case) and libiscsi's iscsi-inq; for the API, another address (127.0.0.2).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { after, test } from 'node:test';
import { addClient, Daemon, defineTarget, requireTools, run, TARGET_IQN } from './helpers.js';
import { pad4, parseText, takePdu, textSegment, type RawPdu } from './mini-initiator.js';

const ATTACKED = 'iqn.1994-05.com.example:attacked';
const LEGIT = 'iqn.1994-05.com.example:legit';
const CHAP = {
  attacked: { username: 'attackeduser1', password: 'attackedPassw0' },
  legit: { username: 'legituser0001', password: 'legitPassw0rd1' },
};
const WRONG = 'wrongPassw0rd1';
const BASELINE_ATTEMPTS = 1000;
/** How long the throttled daemon is attacked. */
const ATTACK_MS = 6000;

const daemons: Daemon[] = [];
after(async () => {
  for (const d of daemons) await d.dispose();
});

/** RFC 7143 §11.12 Login Request (CmdSN 0, ITT 1). */
function loginRequest(isid: Buffer, csg: number, nsg: number, transit: boolean, expStatSN: number, keys: Record<string, string>): Buffer {
  const data = textSegment(keys);
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x43;
  bhs[1] = (transit ? 0x80 : 0) | (csg << 2) | nsg;
  bhs.writeUIntBE(data.length, 5, 3);
  isid.copy(bhs, 8);
  bhs.writeUInt32BE(1, 16);
  bhs.writeUInt32BE(expStatSN, 28);
  return Buffer.concat([bhs, data, Buffer.alloc(pad4(data.length))]);
}

/**
 * One login with one-way CHAP (MD5) up to the full feature phase, on a raw socket.
 * Resolves with the Login Response status (0 = success) and the time it took.
 */
async function chapLogin(port: number, initiator: string, user: string, password: string, localAddress = '127.0.0.1'): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const sock = net.connect({ host: '127.0.0.1', port, localAddress });
  sock.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | undefined;
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    wake?.();
  });
  sock.on('close', () => {
    closed = true;
    wake?.();
  });
  sock.on('error', () => undefined);
  const next = async (): Promise<RawPdu | undefined> => {
    for (;;) {
      const got = takePdu(buf);
      if (got !== undefined) {
        buf = got.rest;
        return got.pdu;
      }
      if (closed) return undefined;
      await new Promise<void>((r) => (wake = r));
    }
  };
  const isid = Buffer.from([0x80, 0, 0, 0x2a, 0, Math.floor(Math.random() * 255)]);
  let statSN = 0;
  const exchange = async (csg: number, nsg: number, transit: boolean, keys: Record<string, string>): Promise<{ status: number; keys: Map<string, string>; nsg: number; transit: boolean }> => {
    sock.write(loginRequest(isid, csg, nsg, transit, statSN, keys));
    const r = await next();
    if (r === undefined) return { status: -1, keys: new Map(), nsg: 0, transit: false };
    statSN = (r.bhs.readUInt32BE(24) + 1) >>> 0;
    const flags = r.bhs.readUInt8(1);
    return { status: r.bhs.readUInt16BE(36), keys: parseText(r.data), nsg: flags & 3, transit: (flags & 0x80) !== 0 };
  };
  try {
    let r = await exchange(0, 1, false, { InitiatorName: initiator, SessionType: 'Normal', TargetName: TARGET_IQN, AuthMethod: 'CHAP,None' });
    if (r.status !== 0) return { status: r.status, ms: performance.now() - t0 };
    r = await exchange(0, 1, false, { CHAP_A: '5' });
    if (r.status !== 0) return { status: r.status, ms: performance.now() - t0 };
    const id = Number(r.keys.get('CHAP_I'));
    const challenge = Buffer.from((r.keys.get('CHAP_C') ?? '0x').slice(2), 'hex');
    const response = createHash('md5').update(Buffer.of(id)).update(password).update(challenge).digest('hex');
    r = await exchange(0, 1, true, { CHAP_N: user, CHAP_R: `0x${response}` });
    if (r.status !== 0) return { status: r.status, ms: performance.now() - t0 };
    const op = { HeaderDigest: 'None', DataDigest: 'None', MaxRecvDataSegmentLength: '262144', ErrorRecoveryLevel: '0' };
    for (let round = 0; round < 4; round++) {
      r = await exchange(1, 3, true, round === 0 ? op : {});
      if (r.status !== 0 || (r.transit && r.nsg === 3)) return { status: r.status, ms: performance.now() - t0 };
    }
    return { status: -2, ms: performance.now() - t0 };
  } finally {
    sock.destroy();
  }
}

/** GET /api/config with Basic auth from `localAddress`; the status and the time it took. */
function apiGet(port: number, password: string, localAddress = '127.0.0.1'): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/api/config', localAddress, agent: false, headers: { authorization: 'Basic ' + Buffer.from(`admin:${password}`).toString('base64') } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function setUp(extra: Record<string, string>): Promise<Daemon> {
  const d = await Daemon.start({ extra });
  daemons.push(d);
  await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '16M');
  await addClient(d.api, ATTACKED, 'rbd/disk_1', CHAP.attacked);
  await addClient(d.api, LEGIT, 'rbd/disk_1', CHAP.legit);
  return d;
}

/** The highest `failures` count the daemon audited for `who` in lines with message `msg`. */
function auditedFailures(d: Daemon, msg: string, who: (e: Record<string, unknown>) => boolean): number {
  let max = 0;
  for (const line of d.stdoutLog().split('\n')) {
    if (!line.includes(msg)) continue;
    const e = JSON.parse(line) as Record<string, unknown>;
    if (e.msg === msg && who(e) && typeof e.failures === 'number') max = Math.max(max, e.failures);
  }
  return max;
}

/** Runs `attempt` one after the other until `ms` have passed; the number of attempts answered. */
async function attackFor(ms: number, attempt: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    await attempt();
    n++;
  }
  return n;
}

test('1000 wrong CHAP logins and API passwords: >= 100x slower than without back-off; other clients log in within 1 s', { timeout: 120_000 }, async (t) => {
  requireTools('iscsi-inq');

  // Before: today's behaviour (back-off off).
  const off = await setUp({ auth_failure_threshold: '0' });
  let t0 = performance.now();
  for (let i = 0; i < BASELINE_ATTEMPTS; i++) {
    const r = await chapLogin(off.iscsiPort, ATTACKED, CHAP.attacked.username, WRONG);
    assert.equal(r.status, 0x0201, 'a wrong CHAP response is an authentication failure');
  }
  const chapBefore = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < BASELINE_ATTEMPTS; i++) assert.equal((await apiGet(off.apiPort, WRONG)).status, 401);
  const apiBefore = performance.now() - t0;
  assert.equal((await chapLogin(off.iscsiPort, ATTACKED, CHAP.attacked.username, CHAP.attacked.password)).status, 0, 'the right secret works after the attack when nothing throttles');
  await off.dispose();
  daemons.splice(daemons.indexOf(off), 1);

  // After: default settings, the same sequential attacks on CHAP and on the API at once.
  const on = await setUp({});
  const attackStart = performance.now();
  const chapAttack = attackFor(ATTACK_MS, () => chapLogin(on.iscsiPort, ATTACKED, CHAP.attacked.username, WRONG));
  const apiAttack = attackFor(ATTACK_MS, () => apiGet(on.apiPort, WRONG));

  // Legitimate logins while the attackers are in back-off (after their 5 free failures).
  const inBackoff = (): boolean =>
    auditedFailures(on, 'iSCSI login failed', (e) => e.initiator === ATTACKED) >= 5 && auditedFailures(on, 'API authentication failed', (e) => e.user === 'admin') >= 5;
  while (!inBackoff()) {
    assert.ok(performance.now() - attackStart < ATTACK_MS, 'the attackers never reached the back-off');
    await new Promise((r) => setTimeout(r, 20));
  }
  const legit: number[] = [];
  const legitApi: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await chapLogin(on.iscsiPort, LEGIT, CHAP.legit.username, CHAP.legit.password);
    assert.equal(r.status, 0, 'the legitimate initiator on the same address logs in during the attack');
    legit.push(r.ms);
    const a = await apiGet(on.apiPort, 'admin', '127.0.0.2');
    assert.equal(a.status, 200, 'a legitimate API client on another address is served during the attack');
    legitApi.push(a.ms);
  }
  const inqStart = performance.now();
  const inq = await run('iscsi-inq', ['-i', LEGIT, on.url(TARGET_IQN, 0, CHAP.legit.username, CHAP.legit.password)], { timeoutMs: 10_000 });
  const inqMs = performance.now() - inqStart;
  assert.equal(inq.code, 0, inq.output);

  const [chapAttempts, apiAttempts] = await Promise.all([chapAttack, apiAttack]);
  const attackMs = performance.now() - attackStart;
  const chapChecked = auditedFailures(on, 'iSCSI login failed', (e) => e.initiator === ATTACKED);
  const apiChecked = auditedFailures(on, 'API authentication failed', (e) => e.user === 'admin' && e.ip === '127.0.0.1');
  assert.ok(chapChecked >= 5 && chapChecked <= chapAttempts, `CHAP guesses checked: ${chapChecked} of ${chapAttempts}`);
  assert.ok(apiChecked >= 5 && apiChecked <= apiAttempts, `API guesses checked: ${apiChecked} of ${apiAttempts}`);

  // Time for 1000 checked guesses at the measured rate (a lower bound: the back-off only grows).
  const chapAfter = (BASELINE_ATTEMPTS / chapChecked) * attackMs;
  const apiAfter = (BASELINE_ATTEMPTS / apiChecked) * attackMs;
  const report = [
    `CHAP before: ${BASELINE_ATTEMPTS} wrong logins in ${chapBefore.toFixed(0)} ms (${((BASELINE_ATTEMPTS * 1000) / chapBefore).toFixed(0)} checked guesses/s)`,
    `CHAP after:  ${chapAttempts} wrong logins in ${attackMs.toFixed(0)} ms, ${chapChecked} checked (${((chapChecked * 1000) / attackMs).toFixed(2)}/s) -> 1000 take >= ${(chapAfter / 1000).toFixed(0)} s = ${(chapAfter / chapBefore).toFixed(0)}x`,
    `API before:  ${BASELINE_ATTEMPTS} wrong passwords in ${apiBefore.toFixed(0)} ms (${((BASELINE_ATTEMPTS * 1000) / apiBefore).toFixed(0)} checked guesses/s)`,
    `API after:   ${apiAttempts} wrong passwords in ${attackMs.toFixed(0)} ms, ${apiChecked} checked (${((apiChecked * 1000) / attackMs).toFixed(2)}/s) -> 1000 take >= ${(apiAfter / 1000).toFixed(0)} s = ${(apiAfter / apiBefore).toFixed(0)}x`,
    `during the attack: legit CHAP logins (same address, other initiator) ${legit.map((m) => m.toFixed(1)).join(', ')} ms; iscsi-inq ${inqMs.toFixed(0)} ms; legit API (127.0.0.2) ${legitApi.map((m) => m.toFixed(1)).join(', ')} ms`,
  ];
  for (const line of report) t.diagnostic(line);
  process.stdout.write(report.map((l) => `# ${l}\n`).join(''));
  assert.ok(chapAfter >= 100 * chapBefore, report[1]);
  assert.ok(apiAfter >= 100 * apiBefore, report[3]);
  for (const ms of [...legit, ...legitApi, inqMs]) assert.ok(ms < 1000, `a legitimate login took ${ms.toFixed(0)} ms during the attack`);

  // The audit names the client and the reason, never the secret; it did not flood the log.
  const log = on.log();
  assert.ok(!log.includes(WRONG) && !log.includes(CHAP.legit.password), 'a secret reached the log');
  const auditLines = log.split('\n').filter((l) => l.includes('"event":"login-') || l.includes('"event":"auth-')).length;
  assert.ok(auditLines <= 2 * 20 + 2, `${auditLines} audit lines in ${attackMs.toFixed(0)} ms: over the budget`);
  const failed = log.split('\n').find((l) => l.includes('iSCSI login failed'));
  assert.ok(failed !== undefined && failed.includes(`"initiator":"${ATTACKED}"`) && failed.includes('"remote":') && failed.includes('"reason":"chap"'), failed);
});

test('a flood of connections from one address is cut at iscsi_max_connections_per_ip', { timeout: 60_000 }, async () => {
  const d = await Daemon.start({ extra: { iscsi_max_connections_per_ip: '16' } });
  daemons.push(d);
  await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '16M'); // the portal opens with the first target
  const socks: net.Socket[] = [];
  let closed = 0;
  try {
    for (let i = 0; i < 40; i++) {
      const s = net.connect({ host: '127.0.0.1', port: d.iscsiPort });
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      socks.push(s);
    }
    const deadline = Date.now() + 10_000;
    while (closed < 24 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(closed, 24, 'the connections past the cap are closed at once');
    // Another address is served: its login gets an answer (not in the ACL here: 0x0202).
    const other = await chapLogin(d.iscsiPort, LEGIT, CHAP.legit.username, CHAP.legit.password, '127.0.0.3');
    assert.equal(other.status, 0x0202);
    assert.equal(closed, 24, 'the first 16 stay open');
    assert.ok(d.log().includes('too many connections from one address'));
  } finally {
    for (const s of socks) s.destroy();
  }
});
