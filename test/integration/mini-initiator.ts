/**
 * A minimal iSCSI initiator for integration tests (independent of src/iscsi: written from RFC 7143
 * so that it checks the target rather than mirroring it). One connection, login without CHAP,
 * one command at a time, Data-In collected until status. Enough to send CDBs that libiscsi's tools
 * cannot (REPORT TARGET PORT GROUPS, raw INQUIRY pages) and read the answer.
 *
 * The wire pieces (PDU splitting, the login exchange, the SCSI Command PDU, sense parsing) are
 * exported as functions so that the multipath initiator (multipath-initiator.ts), which keeps
 * several commands in flight per connection, speaks the same protocol code.
 */
import net from 'node:net';

export interface ScsiReply {
  status: number;
  data: Buffer;
  sense: Buffer;
}

export function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

export function textSegment(keys: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(keys).map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

export function parseText(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of data.toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** One received PDU: the 48-byte BHS and its data segment (AHS dropped, padding removed). */
export interface RawPdu {
  bhs: Buffer;
  data: Buffer;
}

/** RFC 7143 §11.2: splits one whole PDU (BHS, AHS, data segment + pad) off `buf`, or undefined when incomplete. */
export function takePdu(buf: Buffer): { pdu: RawPdu; rest: Buffer } | undefined {
  if (buf.length < 48) return undefined;
  const ahs = buf.readUInt8(4) * 4;
  const dsl = buf.readUIntBE(5, 3);
  const total = 48 + ahs + dsl + pad4(dsl);
  if (buf.length < total) return undefined;
  const bhs = Buffer.from(buf.subarray(0, 48));
  const data = Buffer.from(buf.subarray(48 + ahs, 48 + ahs + dsl));
  return { pdu: { bhs, data }, rest: buf.subarray(total) };
}

/** The ISID MiniInitiator logs in with (random-qualifier format, RFC 7143 §11.12.5). */
export const DEFAULT_ISID = Buffer.from([0x80, 0x00, 0x00, 0x2a, 0x00, 0x01]);

/** SAM LUN field: peripheral addressing below 256, flat space above. */
export function lunField(lun: number): number {
  return lun < 256 ? lun : 0x4000 | lun;
}

export interface LoginParams {
  initiatorName: string;
  targetName: string;
  isid: Buffer;
  itt: number;
  cmdSN: number;
  /** TSIH of a session being reinstated/extended; 0 for a new one. */
  tsih?: number;
}

export interface LoginOutcome {
  tsih: number;
  expStatSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** Every key the target sent during the operational stage (its declarations and negotiated values). */
  keys: Map<string, string>;
}

/** Operational keys this initiator offers (RFC 7143 §13). */
export const OFFERED_KEYS: Readonly<Record<string, string>> = {
  HeaderDigest: 'None',
  DataDigest: 'None',
  MaxRecvDataSegmentLength: '262144',
  InitialR2T: 'Yes',
  ImmediateData: 'Yes',
  ErrorRecoveryLevel: '0',
};

/** RFC 7143 §11.12 Login Request. */
function loginPdu(p: LoginParams, csg: number, nsg: number, transit: boolean, expStatSN: number, keys: Record<string, string>): Buffer {
  const data = textSegment(keys);
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x43; // I + Login Request
  bhs[1] = (transit ? 0x80 : 0) | (csg << 2) | nsg;
  bhs.writeUIntBE(data.length, 5, 3);
  p.isid.copy(bhs, 8, 0, 6);
  bhs.writeUInt16BE(p.tsih ?? 0, 14);
  bhs.writeUInt32BE(p.itt, 16);
  bhs.writeUInt32BE(p.cmdSN, 24);
  bhs.writeUInt32BE(expStatSN, 28);
  return Buffer.concat([bhs, data, Buffer.alloc(pad4(data.length))]);
}

function checkLogin(bhs: Buffer): void {
  if ((bhs.readUInt8(0) & 0x3f) !== 0x23) throw new Error(`expected Login Response, got opcode 0x${bhs.readUInt8(0).toString(16)}`);
  const cls = bhs.readUInt8(36);
  if (cls !== 0) throw new Error(`login refused: status class ${cls} detail ${bhs.readUInt8(37)}`);
}

/**
 * The login exchange (no CHAP) up to the full feature phase over any PDU transport: `send` writes
 * a PDU, `next` resolves with the next one received. Throws with the status on refusal.
 */
export async function loginExchange(io: { send(pdu: Buffer): void; next(): Promise<RawPdu> }, p: LoginParams): Promise<LoginOutcome> {
  const sec = { InitiatorName: p.initiatorName, SessionType: 'Normal', TargetName: p.targetName, AuthMethod: 'None' };
  io.send(loginPdu(p, 0, 1, true, 0, sec));
  let r = await io.next();
  checkLogin(r.bhs);
  let expStatSN = (r.bhs.readUInt32BE(24) + 1) >>> 0;
  const got = new Map<string, string>();
  const sent = new Set<string>();
  let keys: Record<string, string> = { ...OFFERED_KEYS };
  for (let round = 0; round < 4; round++) {
    for (const k of Object.keys(keys)) sent.add(k);
    io.send(loginPdu(p, 1, 3, true, expStatSN, keys));
    r = await io.next();
    checkLogin(r.bhs);
    expStatSN = (r.bhs.readUInt32BE(24) + 1) >>> 0;
    const offered = parseText(r.data);
    for (const [k, v] of offered) got.set(k, v);
    const flags = r.bhs.readUInt8(1);
    if ((flags & 0x80) !== 0 && (flags & 3) === 3) {
      // full feature phase
      return { tsih: r.bhs.readUInt16BE(14), expStatSN, expCmdSN: r.bhs.readUInt32BE(28), maxCmdSN: r.bhs.readUInt32BE(32), keys: got };
    }
    // Keys the target offered that we have not negotiated yet: accept its values (RFC 7143 §6.2).
    keys = {};
    for (const [k, v] of offered) if (!sent.has(k)) keys[k] = v;
  }
  throw new Error('login did not reach full feature phase');
}

export interface CommandPduFields {
  lun: number;
  itt: number;
  cmdSN: number;
  expStatSN: number;
  cdb: Buffer;
  /** Expected Data Transfer Length for READ-direction commands (0: none). */
  readLength?: number;
  /** Expected Data Transfer Length for WRITE-direction commands (0: none). */
  writeLength?: number;
  /** Immediate data carried in the command PDU (RFC 7143 §3.2.4.2). */
  immediate?: Buffer;
}

/** RFC 7143 §11.3 SCSI Command PDU (ATTR=SIMPLE, F set), with its immediate data and pad. */
export function scsiCommandPdu(f: CommandPduFields): Buffer {
  const read = f.readLength ?? 0;
  const write = f.writeLength ?? 0;
  const imm = f.immediate ?? Buffer.alloc(0);
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x01; // SCSI Command
  bhs[1] = 0x80 | (read > 0 ? 0x40 : 0) | (write > 0 ? 0x20 : 0) | 0x01; // F, R, W, ATTR=SIMPLE
  bhs.writeUIntBE(imm.length, 5, 3); // DataSegmentLength = immediate data
  bhs.writeUInt16BE(lunField(f.lun), 8);
  bhs.writeUInt32BE(f.itt, 16);
  bhs.writeUInt32BE(write > 0 ? write : read, 20); // Expected Data Transfer Length
  bhs.writeUInt32BE(f.cmdSN, 24);
  bhs.writeUInt32BE(f.expStatSN, 28);
  f.cdb.copy(bhs, 32, 0, Math.min(16, f.cdb.length));
  return imm.length === 0 ? bhs : Buffer.concat([bhs, imm, Buffer.alloc(pad4(imm.length))]);
}

/** RFC 7143 §11.4 SCSI Response: status byte and the sense data out of its SenseLength-prefixed segment. */
export function responseStatusAndSense(bhs: Buffer, data: Buffer): { status: number; sense: Buffer } {
  const sense = data.length >= 2 ? data.subarray(2, 2 + data.readUInt16BE(0)) : Buffer.alloc(0);
  return { status: bhs.readUInt8(3), sense };
}

/** RFC 7143 §11.18 NOP-Out answering a target ping: ITT FFFFFFFFh, the ping's TTT echoed, I bit set. */
export function nopOutReply(ttt: number, cmdSN: number, expStatSN: number): Buffer {
  const out = Buffer.alloc(48);
  out[0] = 0x40 | 0x00; // I + NOP-Out
  out[1] = 0x80; // F
  out.writeUInt32BE(0xffffffff, 16); // ITT: reply to a target ping
  out.writeUInt32BE(ttt, 20); // TTT echoed
  out.writeUInt32BE(cmdSN, 24);
  out.writeUInt32BE(expStatSN, 28);
  return out;
}

export interface SenseInfo {
  key: number;
  asc: number;
  ascq: number;
}

/** SPC-4 "Sense data": key/ASC/ASCQ of fixed (70h/71h) or descriptor (72h/73h) format, or undefined. */
export function parseSense(sense: Buffer): SenseInfo | undefined {
  if (sense.length < 3) return undefined;
  const code = sense.readUInt8(0) & 0x7f;
  if (code === 0x72 || code === 0x73) {
    return { key: sense.readUInt8(1) & 0x0f, asc: sense.length > 2 ? sense.readUInt8(2) : 0, ascq: sense.length > 3 ? sense.readUInt8(3) : 0 };
  }
  if (code === 0x70 || code === 0x71) {
    return { key: sense.readUInt8(2) & 0x0f, asc: sense.length > 12 ? sense.readUInt8(12) : 0, ascq: sense.length > 13 ? sense.readUInt8(13) : 0 };
  }
  return undefined;
}

export class MiniInitiator {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private closed = false;
  private cmdSN = 0;
  private expStatSN = 0;
  private itt = 1;
  private tsih = 0;

  private constructor(
    private readonly sock: net.Socket,
    private readonly isid: Buffer,
  ) {
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

  /** `isid`: the session's ISID (6 bytes; default DEFAULT_ISID), distinct per session of one initiator. */
  static async connect(host: string, port: number, isid: Buffer = DEFAULT_ISID): Promise<MiniInitiator> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    sock.setNoDelay(true);
    return new MiniInitiator(sock, isid);
  }

  close(): void {
    this.sock.destroy();
  }

  /** Next whole PDU (BHS + data segment), or throws after `timeoutMs`. */
  private async readPdu(timeoutMs = 10_000): Promise<RawPdu> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = takePdu(this.buf);
      if (got) {
        this.buf = got.rest;
        return got.pdu;
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

  /** Logs in (no CHAP) and reaches full feature phase; throws with the status on refusal. */
  async login(initiatorName: string, targetName: string): Promise<void> {
    const io = { send: (b: Buffer) => void this.sock.write(b), next: () => this.readPdu() };
    const r = await loginExchange(io, { initiatorName, targetName, isid: this.isid, itt: this.itt, cmdSN: this.cmdSN, tsih: this.tsih });
    this.tsih = r.tsih;
    this.expStatSN = r.expStatSN;
  }

  /** Sends a READ-direction (or no-data) command and collects Data-In until status. */
  async command(lun: number, cdb: Buffer, allocation: number): Promise<ScsiReply> {
    const itt = ++this.itt;
    this.sock.write(scsiCommandPdu({ lun, itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, cdb, readLength: allocation }));
    this.cmdSN = (this.cmdSN + 1) >>> 0;
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
        return { ...responseStatusAndSense(r, data), data: Buffer.concat(parts) };
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
    const itt = ++this.itt;
    this.sock.write(scsiCommandPdu({ lun, itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, cdb, writeLength: data.length, immediate: data }));
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    for (;;) {
      const { bhs: r, data: d } = await this.readPdu();
      const op = r.readUInt8(0) & 0x3f;
      if (op === 0x20 || r.readUInt32BE(16) !== itt) continue;
      if (op !== 0x21) throw new Error(`unexpected opcode 0x${op.toString(16)} (R2T? the parameter list is sent as immediate data)`);
      this.expStatSN = (r.readUInt32BE(24) + 1) >>> 0;
      return { ...responseStatusAndSense(r, d), data: Buffer.alloc(0) };
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
      let pdu: RawPdu;
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
      this.sock.write(nopOutReply(ttt, this.cmdSN, this.expStatSN));
    }
  }

  /** Like command(), retrying while the target reports a UNIT ATTENTION (first command after login). */
  async commandRetryUa(lun: number, cdb: Buffer, allocation: number): Promise<ScsiReply> {
    for (let i = 0; i < 5; i++) {
      const r = await this.command(lun, cdb, allocation);
      if (r.status === 0x02 && parseSense(r.sense)?.key === 0x06) continue;
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
    return serviceActionIn(12, 0xa3, 0x0a, 6, alloc);
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
  /** PERSISTENT RESERVE IN with service action `sa` (0 READ KEYS, 1 READ RESERVATION, ...). */
  prin(sa: number, alloc: number): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x5e;
    c[1] = sa & 0x1f;
    c.writeUInt16BE(alloc, 7);
    return c;
  },
  /** PERSISTENT RESERVE OUT with service action `sa`, reservation TYPE `type` (LU scope), 24-byte parameter list. */
  prout(sa: number, type = 0): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x5f;
    c[1] = sa & 0x1f;
    c[2] = type & 0x0f;
    c.writeUInt32BE(24, 5);
    return c;
  },
  testUnitReady(): Buffer {
    return Buffer.alloc(6);
  },
  /** READ CAPACITY (16) (SERVICE ACTION IN 0x9E / 0x10). */
  readCapacity16(alloc = 32): Buffer {
    return serviceActionIn(16, 0x9e, 0x10, 10, alloc);
  },
  /** READ (16) of `blocks` blocks at `lba`. */
  read16(lba: number, blocks: number): Buffer {
    return rw16(0x88, lba, blocks);
  },
  /** WRITE (16) of `blocks` blocks at `lba` (FUA when `fua`). */
  write16(lba: number, blocks: number, fua = false): Buffer {
    const c = rw16(0x8a, lba, blocks);
    if (fua) c[1] = 0x08;
    return c;
  },
};

/** A CDB of `length` bytes: operation code, service action, 32-bit ALLOCATION LENGTH at `allocAt`. */
function serviceActionIn(length: number, op: number, sa: number, allocAt: number, alloc: number): Buffer {
  const c = Buffer.alloc(length);
  c[0] = op;
  c[1] = sa;
  c.writeUInt32BE(alloc, allocAt);
  return c;
}

function rw16(op: number, lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = op;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(blocks, 10);
  return c;
}

/** READ CAPACITY (16) parameter data: block size and the number of blocks (last LBA + 1). */
export function parseReadCapacity16(data: Buffer): { blocks: number; blockSize: number } {
  return { blocks: Number(data.readBigUInt64BE(0)) + 1, blockSize: data.readUInt32BE(8) };
}

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

/** A PERSISTENT RESERVE IN READ RESERVATION answer: the holder's key and the TYPE, or undefined when nothing is reserved. */
export function parseReadReservation(data: Buffer): { key: bigint; type: number } | undefined {
  const len = data.readUInt32BE(4);
  if (len < 16 || data.length < 24) return undefined;
  return { key: data.readBigUInt64BE(8), type: data.readUInt8(21) & 0x0f };
}
