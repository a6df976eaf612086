/**
 * A minimal iSCSI initiator for integration tests (independent of src/iscsi: written from RFC 7143
 * so that it checks the target rather than mirroring it). One connection, login without CHAP,
 * one command at a time, Data-In collected until status. Enough to send CDBs that libiscsi's tools
 * cannot (REPORT TARGET PORT GROUPS, raw INQUIRY pages) and read the answer.
 */
import net from 'node:net';

export interface ScsiReply {
  status: number;
  data: Buffer;
  sense: Buffer;
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function textSegment(keys: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(keys).map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

function parseText(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of data.toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

export class MiniInitiator {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closed = false;
  private cmdSN = 0;
  private expStatSN = 0;
  private itt = 1;
  private tsih = 0;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(host: string, port: number): Promise<MiniInitiator> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    sock.setNoDelay(true);
    return new MiniInitiator(sock);
  }

  close(): void {
    this.sock.destroy();
  }

  /** Next whole PDU (BHS + data segment), or throws after `timeoutMs`. */
  private async readPdu(timeoutMs = 10_000): Promise<{ bhs: Buffer; data: Buffer }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.length >= 48) {
        const ahs = this.buf.readUInt8(4) * 4;
        const dsl = this.buf.readUIntBE(5, 3);
        const total = 48 + ahs + dsl + pad4(dsl);
        if (this.buf.length >= total) {
          const bhs = Buffer.from(this.buf.subarray(0, 48));
          const data = Buffer.from(this.buf.subarray(48 + ahs, 48 + ahs + dsl));
          this.buf = this.buf.subarray(total);
          return { bhs, data };
        }
      }
      if (this.closed) throw new Error('connection closed by the target');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a PDU');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** RFC 7143 §11.12 Login Request. */
  private loginPdu(csg: number, nsg: number, transit: boolean, keys: Record<string, string>): Buffer {
    const data = textSegment(keys);
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x43; // I + Login Request
    bhs[1] = (transit ? 0x80 : 0) | (csg << 2) | nsg;
    bhs.writeUIntBE(data.length, 5, 3);
    Buffer.from([0x80, 0x00, 0x00, 0x2a, 0x00, 0x01]).copy(bhs, 8); // ISID
    bhs.writeUInt16BE(this.tsih, 14);
    bhs.writeUInt32BE(this.itt, 16);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    return Buffer.concat([bhs, data, Buffer.alloc(pad4(data.length))]);
  }

  /** Logs in (no CHAP) and reaches full feature phase; throws with the status on refusal. */
  async login(initiatorName: string, targetName: string): Promise<void> {
    const sec = { InitiatorName: initiatorName, SessionType: 'Normal', TargetName: targetName, AuthMethod: 'None' };
    this.sock.write(this.loginPdu(0, 1, true, sec));
    let r = await this.readPdu();
    this.checkLogin(r.bhs);
    const sent = new Set<string>();
    let keys: Record<string, string> = {
      HeaderDigest: 'None',
      DataDigest: 'None',
      MaxRecvDataSegmentLength: '262144',
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      ErrorRecoveryLevel: '0',
    };
    for (let round = 0; round < 4; round++) {
      for (const k of Object.keys(keys)) sent.add(k);
      this.sock.write(this.loginPdu(1, 3, true, keys));
      r = await this.readPdu();
      this.checkLogin(r.bhs);
      const flags = r.bhs.readUInt8(1);
      if ((flags & 0x80) !== 0 && (flags & 3) === 3) return; // full feature phase
      // Keys the target offered that we have not negotiated yet: accept its values (RFC 7143 §6.2).
      keys = {};
      for (const [k, v] of parseText(r.data)) if (!sent.has(k)) keys[k] = v;
    }
    throw new Error('login did not reach full feature phase');
  }

  private checkLogin(bhs: Buffer): void {
    if ((bhs.readUInt8(0) & 0x3f) !== 0x23) throw new Error(`expected Login Response, got opcode 0x${bhs.readUInt8(0).toString(16)}`);
    const cls = bhs.readUInt8(36);
    if (cls !== 0) throw new Error(`login refused: status class ${cls} detail ${bhs.readUInt8(37)}`);
    this.tsih = bhs.readUInt16BE(14);
    this.expStatSN = (bhs.readUInt32BE(24) + 1) >>> 0;
  }

  /** Sends a READ-direction (or no-data) command and collects Data-In until status. */
  async command(lun: number, cdb: Buffer, allocation: number): Promise<ScsiReply> {
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x01; // SCSI Command
    bhs[1] = 0x80 | (allocation > 0 ? 0x40 : 0) | 0x01; // F, R, ATTR=SIMPLE
    bhs.writeUInt16BE(lun < 256 ? lun : 0x4000 | lun, 8); // SAM LUN, peripheral/flat
    const itt = ++this.itt;
    bhs.writeUInt32BE(itt, 16);
    bhs.writeUInt32BE(allocation, 20); // Expected Data Transfer Length
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    cdb.copy(bhs, 32, 0, Math.min(16, cdb.length));
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    this.sock.write(bhs);
    const parts: Buffer[] = [];
    for (;;) {
      const { bhs: r, data } = await this.readPdu();
      const op = r.readUInt8(0) & 0x3f;
      if (op === 0x20) continue; // NOP-In (ping with TTT 0xffffffff needs no answer)
      if (r.readUInt32BE(16) !== itt) continue;
      if (op === 0x25) {
        // SCSI Data-In: data at BufferOffset; S bit carries status.
        parts.push(data);
        if ((r.readUInt8(1) & 0x01) !== 0) {
          this.expStatSN = (r.readUInt32BE(24) + 1) >>> 0;
          return { status: r.readUInt8(3), data: Buffer.concat(parts), sense: Buffer.alloc(0) };
        }
        continue;
      }
      if (op === 0x21) {
        this.expStatSN = (r.readUInt32BE(24) + 1) >>> 0;
        const status = r.readUInt8(3);
        const sense = data.length >= 2 ? data.subarray(2, 2 + data.readUInt16BE(0)) : Buffer.alloc(0);
        return { status, data: Buffer.concat(parts), sense };
      }
      throw new Error(`unexpected opcode 0x${op.toString(16)}`);
    }
  }

  /**
   * Sends a WRITE-direction command whose whole Data-Out rides as immediate data (RFC 7143 §3.2.4.2:
   * allowed with ImmediateData=Yes up to FirstBurstLength, also when InitialR2T=Yes). For small
   * parameter lists (PERSISTENT RESERVE OUT, MODE SELECT).
   */
  async commandOut(lun: number, cdb: Buffer, data: Buffer): Promise<ScsiReply> {
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x01;
    bhs[1] = 0x80 | 0x20 | 0x01; // F, W, SIMPLE
    bhs.writeUIntBE(data.length, 5, 3); // DataSegmentLength = immediate data
    bhs.writeUInt16BE(lun < 256 ? lun : 0x4000 | lun, 8);
    const itt = ++this.itt;
    bhs.writeUInt32BE(itt, 16);
    bhs.writeUInt32BE(data.length, 20);
    bhs.writeUInt32BE(this.cmdSN, 24);
    bhs.writeUInt32BE(this.expStatSN, 28);
    cdb.copy(bhs, 32, 0, Math.min(16, cdb.length));
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    this.sock.write(Buffer.concat([bhs, data, Buffer.alloc(pad4(data.length))]));
    for (;;) {
      const { bhs: r, data: d } = await this.readPdu();
      const op = r.readUInt8(0) & 0x3f;
      if (op === 0x20 || r.readUInt32BE(16) !== itt) continue;
      if (op !== 0x21) throw new Error(`unexpected opcode 0x${op.toString(16)} (R2T? the parameter list is sent as immediate data)`);
      this.expStatSN = (r.readUInt32BE(24) + 1) >>> 0;
      const sense = d.length >= 2 ? d.subarray(2, 2 + d.readUInt16BE(0)) : Buffer.alloc(0);
      return { status: r.readUInt8(3), data: Buffer.alloc(0), sense };
    }
  }

  /**
   * Stays idle for `ms`, reading what the target sends. NOP-In pings (TTT != FFFFFFFFh) are
   * answered with a NOP-Out echoing the TTT when `answerPings` (RFC 7143 §11.18/§11.19), else ignored.
   */
  async idle(ms: number, answerPings: boolean): Promise<{ pings: number; closed: boolean; closedAfterMs: number }> {
    const start = Date.now();
    let pings = 0;
    for (;;) {
      const left = start + ms - Date.now();
      if (left <= 0) return { pings, closed: false, closedAfterMs: -1 };
      let pdu: { bhs: Buffer; data: Buffer };
      try {
        pdu = await this.readPdu(left);
      } catch (e) {
        if (this.closed) return { pings, closed: true, closedAfterMs: Date.now() - start };
        if (e instanceof Error && /timed out/.test(e.message)) return { pings, closed: false, closedAfterMs: -1 };
        throw e;
      }
      const op = pdu.bhs.readUInt8(0) & 0x3f;
      if (op !== 0x20) continue;
      const ttt = pdu.bhs.readUInt32BE(20);
      this.expStatSN = (pdu.bhs.readUInt32BE(24) + 1) >>> 0;
      if (ttt === 0xffffffff) continue;
      pings++;
      if (!answerPings) continue;
      const out = Buffer.alloc(48);
      out[0] = 0x40 | 0x00; // I + NOP-Out
      out[1] = 0x80; // F
      out.writeUInt32BE(0xffffffff, 16); // ITT: reply to a target ping
      out.writeUInt32BE(ttt, 20); // TTT echoed
      out.writeUInt32BE(this.cmdSN, 24);
      out.writeUInt32BE(this.expStatSN, 28);
      this.sock.write(out);
    }
  }

  /** Like command(), retrying while the target reports a UNIT ATTENTION (first command after login). */
  async commandRetryUa(lun: number, cdb: Buffer, allocation: number): Promise<ScsiReply> {
    for (let i = 0; i < 5; i++) {
      const r = await this.command(lun, cdb, allocation);
      const key = r.sense.length >= 3 ? (r.sense.readUInt8(0) & 0x7f) >= 0x72 ? r.sense.readUInt8(1) & 0x0f : r.sense.readUInt8(2) & 0x0f : -1;
      if (r.status === 0x02 && key === 0x06) continue;
      return r;
    }
    throw new Error('unit attention did not clear');
  }
}

/** Target port group descriptor of REPORT TARGET PORT GROUPS (SPC-4 "REPORT TARGET PORT GROUPS"). */
export interface TpgDescriptor {
  state: number;
  tpgId: number;
  relativePorts: number[];
}

export const ALUA_STATE = { AO: 0, ANO: 1, STANDBY: 2, UNAVAILABLE: 3, OFFLINE: 0x0e, TRANSITIONING: 0x0f } as const;

export function parseRtpg(data: Buffer): TpgDescriptor[] {
  const out: TpgDescriptor[] = [];
  const len = data.readUInt32BE(0);
  let off = 4;
  while (off + 8 <= Math.min(data.length, 4 + len)) {
    const count = data.readUInt8(off + 7);
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(data.readUInt16BE(off + 8 + i * 4 + 2));
    out.push({ state: data.readUInt8(off) & 0x0f, tpgId: data.readUInt16BE(off + 2), relativePorts: ports });
    off += 8 + count * 4;
  }
  return out;
}

/** Designators of VPD page 0x83 by type: 4 = relative target port, 5 = target port group. */
export function vpd83Designators(page: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  const len = page.readUInt16BE(2);
  let off = 4;
  while (off + 4 <= Math.min(page.length, 4 + len)) {
    const type = page.readUInt8(off + 1) & 0x0f;
    const dlen = page.readUInt8(off + 3);
    if (!m.has(type)) m.set(type, page.subarray(off + 4, off + 4 + dlen));
    off += 4 + dlen;
  }
  return m;
}

export const CDB = {
  /** REPORT TARGET PORT GROUPS (MAINTENANCE IN 0xA3 / service action 0x0A). */
  rtpg(alloc: number): Buffer {
    const c = Buffer.alloc(12);
    c[0] = 0xa3;
    c[1] = 0x0a;
    c.writeUInt32BE(alloc, 6);
    return c;
  },
  /** INQUIRY, EVPD page `page`. */
  inquiryVpd(page: number, alloc: number): Buffer {
    const c = Buffer.alloc(6);
    c[0] = 0x12;
    c[1] = 0x01;
    c[2] = page;
    c.writeUInt16BE(alloc, 3);
    return c;
  },
  /** PERSISTENT RESERVE IN, READ KEYS. */
  prinReadKeys(alloc: number): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x5e;
    c[1] = 0x00;
    c.writeUInt16BE(alloc, 7);
    return c;
  },
  /** PERSISTENT RESERVE OUT, REGISTER (service action 0) with a 24-byte parameter list. */
  proutRegister(): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x5f;
    c[1] = 0x00;
    c.writeUInt32BE(24, 5);
    return c;
  },
  testUnitReady(): Buffer {
    return Buffer.alloc(6);
  },
};

/** SPC-4 "PERSISTENT RESERVE OUT parameter list": reservation key, service action key, APTPL. */
export function proutParams(key: bigint, serviceActionKey: bigint, aptpl = false): Buffer {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(serviceActionKey, 8);
  p[20] = aptpl ? 0x01 : 0x00;
  return p;
}

/** Keys from a PERSISTENT RESERVE IN READ KEYS answer. */
export function parseReadKeys(data: Buffer): bigint[] {
  const len = data.readUInt32BE(4);
  const keys: bigint[] = [];
  for (let off = 8; off + 8 <= Math.min(data.length, 8 + len); off += 8) keys.push(data.readBigUInt64BE(off));
  return keys;
}
