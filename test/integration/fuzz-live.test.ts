/**
 * Hostile TCP clients against a running daemon's iSCSI portal: random bytes, truncated headers,
 * oversized DataSegmentLength, non-login PDU first, a valid login followed by garbage, and many
 * connections at once. Afterwards the daemon must still be the same process, answer /api/_ping,
 * and serve a real `iscsi-inq`. Bounded loops, bounded time (< 20 s of traffic).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { addClient, Daemon, defineTarget, requireTools, run, TARGET_IQN, waitFor } from './helpers.js';

/** Number of open file descriptors of a process (/proc/PID/fd). */
function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

const FUZZ_INITIATOR = 'iqn.2024-01.io.example:fuzz';
/** A client with one-way CHAP, for hostile CHAP exchanges. */
const CHAP_INITIATOR = 'iqn.2024-01.io.example:fuzz-chap';
const CHAP_USER = 'fuzzchapuser';
const CHAP_SECRET = 'fuzzchapsecret1';

// Deterministic PRNG (xorshift32) so a failing run can be repeated with the printed seed.
const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() >>> 0)) >>> 0 || 1;
let state = SEED;
function rnd(n: number): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state % n;
}
function rbytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

/** RFC 7143 §11.12 "Login Request" BHS + text data segment (key=value\0, padded to 4). */
function loginRequest(opts: { csg: number; nsg: number; transit: boolean; keys: Record<string, string>; itt: number; cmdSN: number; dslOverride?: number }): Buffer {
  const data = Buffer.from(Object.entries(opts.keys).map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
  const pad = (4 - (data.length % 4)) % 4;
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x40 | 0x03; // I=1, opcode Login Request
  bhs[1] = (opts.transit ? 0x80 : 0) | ((opts.csg & 3) << 2) | (opts.nsg & 3); // T, C=0, CSG, NSG
  bhs[2] = 0; // Version-max
  bhs[3] = 0; // Version-min
  bhs[4] = 0; // TotalAHSLength
  bhs.writeUIntBE(opts.dslOverride ?? data.length, 5, 3); // DataSegmentLength
  Buffer.from([0x80, 0x00, 0x12, 0x34, 0x56, 0x78]).copy(bhs, 8); // ISID: random-qualifier format
  bhs.writeUInt16BE(0, 14); // TSIH 0: new session
  bhs.writeUInt32BE(opts.itt, 16); // Initiator Task Tag
  bhs.writeUInt16BE(0, 20); // CID
  bhs.writeUInt32BE(opts.cmdSN, 24); // CmdSN
  bhs.writeUInt32BE(0, 28); // ExpStatSN
  return Buffer.concat([bhs, data, Buffer.alloc(pad)]);
}

/** RFC 7143 §11.3 "SCSI Command" BHS (TEST UNIT READY), used as a non-login first PDU. */
function scsiCommand(): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x01;
  bhs[1] = 0x80; // F
  bhs.writeUInt32BE(1, 16); // ITT
  bhs.writeUInt32BE(0, 20); // Expected Data Transfer Length
  bhs.writeUInt32BE(1, 24); // CmdSN
  return bhs; // CDB bytes 32..47 all zero = TEST UNIT READY
}

interface Conn {
  sock: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves when the peer closes (or the socket errors). */
  closed: Promise<void>;
  isClosed(): boolean;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let isClosed = false;
    const closed = new Promise<void>((res) => {
      sock.on('close', () => {
        isClosed = true;
        res();
      });
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined); // ECONNRESET etc. are expected outcomes here
    sock.once('connect', () =>
      resolve({ sock, received: () => Buffer.concat(chunks), closed, isClosed: () => isClosed }),
    );
    sock.once('error', reject);
    sock.setTimeout(10_000, () => sock.destroy());
  });
}

/** Waits until the server closes the connection or `ms` pass; returns whether it closed. */
async function closedWithin(c: Conn, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((res) => {
    timer = setTimeout(() => res(false), ms);
  });
  const r = await Promise.race([c.closed.then(() => true as const), t]);
  clearTimeout(timer);
  return r;
}

/** Reads one complete PDU (BHS + data) from the connection, waiting up to `ms`. */
async function readPdu(c: Conn, ms: number): Promise<{ bhs: Buffer; data: Buffer } | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const buf = c.received();
    if (buf.length >= 48) {
      const ahs = buf.readUInt8(4) * 4;
      const dsl = buf.readUIntBE(5, 3);
      const total = 48 + ahs + dsl + ((4 - (dsl % 4)) % 4);
      if (buf.length >= total) return { bhs: buf.subarray(0, 48), data: buf.subarray(48 + ahs, 48 + ahs + dsl) };
    }
    if (c.isClosed() || Date.now() > deadline) return undefined;
    await new Promise<void>((res) => {
      const onData = (): void => {
        clearTimeout(timer);
        res();
      };
      const timer = setTimeout(() => {
        c.sock.off('data', onData);
        res();
      }, Math.max(1, deadline - Date.now()));
      c.sock.once('data', onData);
      void c.closed.then(onData);
    });
  }
}

describe('live fuzz of the iSCSI portal', { timeout: 90_000 }, () => {
  let d: Daemon;
  let pid: number | undefined;
  let baselineFds = 0;

  before(async () => {
    requireTools('iscsi-inq');
    // The guessing back-off stays on (hostile CHAP answers go through it) with short delays.
    d = await Daemon.start({ extra: { auth_backoff_ms: '50', auth_backoff_max_ms: '400' } });
    await defineTarget(d.api, d.gatewayName, 'rbd/disk_1', '64M');
    await addClient(d.api, FUZZ_INITIATOR, 'rbd/disk_1');
    await addClient(d.api, CHAP_INITIATOR, 'rbd/disk_1', { username: CHAP_USER, password: CHAP_SECRET });
    pid = d.pid;
    baselineFds = openFds(pid ?? 0);
    const inq = await run('iscsi-inq', ['-i', FUZZ_INITIATOR, d.url()], { timeoutMs: 20_000 });
    assert.equal(inq.code, 0, `iscsi-inq before fuzzing failed: ${inq.output}`);
  });

  after(async () => {
    await d?.dispose();
  });

  test(`random bytes, truncated headers, oversized segments (seed ${SEED})`, async () => {
    const port = d.iscsiPort;
    // 1. Random bytes of random sizes, 8 connections at a time.
    for (let round = 0; round < 5; round++) {
      const conns = await Promise.all(Array.from({ length: 8 }, () => connect(port)));
      for (const c of conns) c.sock.write(rbytes(1 + rnd(4096)));
      for (const c of conns) c.sock.end();
      await Promise.all(conns.map((c) => closedWithin(c, 3000)));
      for (const c of conns) c.sock.destroy();
    }
    // 2. Truncated headers: a valid login BHS cut at every length < 48, then half-close.
    const login = loginRequest({ csg: 0, nsg: 1, transit: true, keys: { InitiatorName: FUZZ_INITIATOR, SessionType: 'Normal', TargetName: TARGET_IQN, AuthMethod: 'None' }, itt: 1, cmdSN: 0 });
    for (let cut = 1; cut < 48; cut += 3) {
      const c = await connect(port);
      c.sock.end(login.subarray(0, cut));
      await closedWithin(c, 2000);
      c.sock.destroy();
    }
    // 3. Oversized DataSegmentLength (16 MiB - 1, far above any MaxRecvDataSegmentLength during login):
    //    the target must refuse from the header alone (reject/close), not wait to buffer 16 MiB.
    {
      const c = await connect(port);
      const big = loginRequest({ csg: 0, nsg: 1, transit: true, keys: { InitiatorName: FUZZ_INITIATOR }, itt: 2, cmdSN: 0, dslOverride: 0xffffff });
      c.sock.write(big.subarray(0, 48));
      c.sock.write(rbytes(1024));
      const closed = await closedWithin(c, 5000);
      const got = c.received();
      const refused = closed || (got.length >= 48 && got.readUInt8(0) === 0x23 && got.readUInt8(36) !== 0);
      assert.ok(refused, 'a login PDU announcing a 16 MiB data segment was neither refused nor closed within 5 s');
      c.sock.destroy();
    }
    // 4. A non-login PDU first: RFC 7143 §6.1 — only a Login Request may open a connection.
    {
      const c = await connect(port);
      c.sock.write(scsiCommand());
      const closed = await closedWithin(c, 5000);
      const got = c.received();
      const refused = closed || (got.length >= 48 && got.readUInt8(0) === 0x23 && got.readUInt8(36) !== 0);
      assert.ok(refused, 'a SCSI Command as first PDU was accepted');
      c.sock.destroy();
    }
    // 5. 100 connections opened at once and dropped without a byte.
    {
      const conns = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
      for (const c of conns) c.sock.destroy();
    }
  });

  test('valid login to full feature phase, then garbage', async () => {
    const port = d.iscsiPort;
    for (let round = 0; round < 6; round++) {
      const c = await connect(port);
      // Security stage with AuthMethod=None (no CHAP on this client), then operational, as open-iscsi does.
      c.sock.write(loginRequest({ csg: 0, nsg: 1, transit: true, keys: { InitiatorName: FUZZ_INITIATOR, SessionType: 'Normal', TargetName: TARGET_IQN, AuthMethod: 'None' }, itt: 1, cmdSN: 0 }));
      const r1 = await readPdu(c, 5000);
      assert.ok(r1, 'no login response (security stage)');
      assert.equal(r1.bhs.readUInt8(0) & 0x3f, 0x23, 'not a Login Response');
      assert.equal(r1.bhs.readUInt8(36), 0, `login refused: class ${r1.bhs.readUInt8(36)} detail ${r1.bhs.readUInt8(37)}`);
      const consumed1 = 48 + r1.data.length + ((4 - (r1.data.length % 4)) % 4);
      const tsih = r1.bhs.readUInt16BE(14);
      const statSN = r1.bhs.readUInt32BE(24);
      const stage2 = loginRequest({ csg: 1, nsg: 3, transit: true, keys: { HeaderDigest: 'None', DataDigest: 'None', MaxRecvDataSegmentLength: '8192' }, itt: 1, cmdSN: 0 });
      stage2.writeUInt16BE(tsih, 14);
      stage2.writeUInt32BE(statSN + 1, 28);
      c.sock.write(stage2);
      const r2 = await waitPduAfter(c, consumed1, 5000);
      assert.ok(r2, 'no login response (operational stage)');
      assert.equal(r2.readUInt8(36), 0, `operational login refused: class ${r2.readUInt8(36)} detail ${r2.readUInt8(37)}`);
      // In full feature phase now (or still negotiating): send garbage of several kinds.
      switch (round % 3) {
        case 0:
          c.sock.write(rbytes(1 + rnd(8192)));
          break;
        case 1: {
          // A SCSI Command announcing a 16 MiB - 1 immediate data segment, far above the negotiated
          // MaxRecvDataSegmentLength: RFC 7143 §7.8 protocol error; the target must not wait for it.
          const h = scsiCommand();
          h.writeUIntBE(0xffffff, 5, 3);
          h.writeUInt32BE(0xffffff, 20);
          c.sock.write(h);
          c.sock.write(rbytes(4096));
          const closed = await closedWithin(c, 5000);
          const r2dsl = r2.readUIntBE(5, 3);
          const got = c.received().subarray(consumed1 + 48 + r2.readUInt8(4) * 4 + r2dsl + ((4 - (r2dsl % 4)) % 4));
          // Either the connection is dropped, or the target answered with a Reject (opcode 0x3f).
          const rejected = got.length >= 48 && (got.readUInt8(0) & 0x3f) === 0x3f;
          assert.ok(closed || rejected, 'a 16 MiB data segment in full feature phase was neither rejected nor closed within 5 s');
          break;
        }
        default: {
          // A stream of random-opcode headers with small segments.
          for (let i = 0; i < 20; i++) {
            const h = rbytes(48);
            h[4] = 0;
            h.writeUIntBE(rnd(64), 5, 3);
            c.sock.write(Buffer.concat([h, rbytes(h.readUIntBE(5, 3) + 3)]));
          }
        }
      }
      c.sock.end();
      await closedWithin(c, 3000);
      c.sock.destroy();
    }
  });

  test('hostile CHAP exchanges are refused with a login status, never a crash', async () => {
    const port = d.iscsiPort;
    // Each case: what the initiator answers after the target's CHAP_A/CHAP_I/CHAP_C.
    const answers: Record<string, string>[] = [
      { CHAP_N: CHAP_USER, CHAP_R: '0x' + 'zz'.repeat(16) }, // not hex
      { CHAP_N: CHAP_USER, CHAP_R: '0x' + 'ab'.repeat(4000) }, // 8 KB response
      { CHAP_N: CHAP_USER, CHAP_R: '' }, // empty
      { CHAP_N: CHAP_USER, CHAP_R: '0x' + '00'.repeat(16) }, // wrong
      { CHAP_N: 'x'.repeat(255), CHAP_R: '0x' + '00'.repeat(16) }, // unknown long name
      { CHAP_N: CHAP_USER, CHAP_R: '0x' + '00'.repeat(16), CHAP_I: '999', CHAP_C: '0x1' }, // bad mutual fields
      { CHAP_N: CHAP_USER, CHAP_R: '0b' + 'A'.repeat(24) }, // base64 of the wrong size
      { CHAP_R: '0x' + '00'.repeat(16) }, // no name
    ];
    for (const answer of answers) {
      const c = await connect(port);
      c.sock.write(loginRequest({ csg: 0, nsg: 1, transit: false, keys: { InitiatorName: CHAP_INITIATOR, SessionType: 'Normal', TargetName: TARGET_IQN, AuthMethod: 'CHAP,None' }, itt: 1, cmdSN: 0 }));
      const r1 = await readPdu(c, 5000);
      assert.ok(r1, 'no answer to AuthMethod');
      assert.equal(r1.bhs.readUInt8(36), 0, 'AuthMethod=CHAP offer refused');
      assert.match(r1.data.toString('latin1'), /AuthMethod=CHAP/);
      const off1 = 48 + r1.data.length + ((4 - (r1.data.length % 4)) % 4);
      const a = loginRequest({ csg: 0, nsg: 1, transit: false, keys: { CHAP_A: '5' }, itt: 1, cmdSN: 0 });
      a.writeUInt16BE(r1.bhs.readUInt16BE(14), 14);
      c.sock.write(a);
      const r2 = await waitPduAfter(c, off1, 5000);
      assert.ok(r2, 'no CHAP challenge');
      assert.equal(r2.readUInt8(36), 0, 'CHAP_A=5 refused');
      const r2dsl = r2.readUIntBE(5, 3);
      const off2 = off1 + 48 + r2dsl + ((4 - (r2dsl % 4)) % 4);
      const bad = loginRequest({ csg: 0, nsg: 1, transit: true, keys: answer, itt: 1, cmdSN: 0 });
      c.sock.write(bad);
      const r3 = await waitPduAfter(c, off2, 5000);
      // RFC 7143 §11.13.5: authentication failure is status class 2 (initiator error), then close.
      if (r3) {
        assert.equal(r3.readUInt8(0) & 0x3f, 0x23, 'not a Login Response');
        assert.equal(r3.readUInt8(36), 2, `hostile CHAP answer ${JSON.stringify(answer).slice(0, 80)}: status class ${r3.readUInt8(36)}`);
      } else {
        assert.ok(c.isClosed(), 'no login response and the connection is still open');
      }
      c.sock.destroy();
    }
    // And the right secret still works (the state machine is not stuck) once the guessing back-off
    // those eight failures earned this initiator has passed (400 ms at most here).
    let last = '';
    await waitFor(
      'the right CHAP secret accepted after the back-off',
      async () => {
        const inq = await run('iscsi-inq', ['-i', CHAP_INITIATOR, d.url(TARGET_IQN, 0, CHAP_USER, CHAP_SECRET)], { timeoutMs: 20_000 });
        last = inq.output;
        return inq.code === 0 ? true : undefined;
      },
      30_000,
      200,
    ).catch(() => assert.fail(`iscsi-inq with the right secret never succeeded: ${last}`));
    assert.doesNotMatch(d.log(), new RegExp(CHAP_SECRET), 'the CHAP secret appeared in the daemon log');
  });

  test('the daemon is still up: same pid, /api/_ping 200, iscsi-inq works, no leaked sockets', async () => {
    assert.ok(d.running, `daemon died:\n${d.logTail()}`);
    assert.equal(d.pid, pid);
    // Every hostile connection is closed by now (ours ended or destroyed): the daemon's descriptors
    // must come back to about where they started (a leak of one per connection would be ~200).
    let fds = 0;
    try {
      await waitFor('daemon file descriptors back to baseline', () => {
        fds = openFds(pid ?? 0);
        return fds <= baselineFds + 10 ? true : undefined;
      }, 10_000, 100);
    } catch {
      assert.fail(`daemon holds ${fds} file descriptors after the fuzzing, ${baselineFds} before`);
    }
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    assert.ok(rssKiB < 512 * 1024, `daemon RSS ${rssKiB} KiB after fuzzing`);
    const ping = await d.api.get('/api/_ping');
    assert.equal(ping.status, 200, ping.text);
    const inq = await run('iscsi-inq', ['-i', FUZZ_INITIATOR, d.url()], { timeoutMs: 20_000 });
    assert.equal(inq.code, 0, `iscsi-inq after fuzzing: ${inq.output}\n${d.logTail()}`);
    assert.match(inq.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
  });
});

/** Waits for a full PDU starting at byte `offset` of the received stream; returns its BHS. */
async function waitPduAfter(c: Conn, offset: number, ms: number): Promise<Buffer | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const buf = c.received().subarray(offset);
    if (buf.length >= 48) {
      const dsl = buf.readUIntBE(5, 3);
      if (buf.length >= 48 + buf.readUInt8(4) * 4 + dsl) return buf.subarray(0, 48);
    }
    if (c.isClosed() || Date.now() > deadline) return undefined;
    await new Promise<void>((res) => {
      const timer = setTimeout(res, Math.max(1, Math.min(50, deadline - Date.now())));
      c.sock.once('data', () => {
        clearTimeout(timer);
        res();
      });
    });
  }
}
