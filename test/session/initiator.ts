/**
 * A tiny test initiator over a real loopback socket, built on the wire codec
 * (encodePdu/decodePdu, Framer, PduWriter). Keeps a queue of received PDUs;
 * recv() waits with a deadline (no sleeps).
 */
import net from 'node:net';
import { IscsiOp, RESERVED_TAG } from '../../src/iscsi/constants.js';
import { decodePdu, encodeLun, type InitiatorPdu, type TargetPdu, type LoginResponsePdu } from '../../src/iscsi/pdu.js';
import { Framer } from '../../src/iscsi/framer.js';
import { PduWriter } from '../../src/iscsi/writer.js';
import { decodeText, encodeText } from '../../src/iscsi/text.js';
import { chapResponse, decodeChapBinary, encodeChapHex, type ChapAlgorithm } from '../../src/iscsi/chap.js';
import { IscsiServer } from '../../src/iscsi/server.js';
import { silentLogger } from '../../src/util/log.js';
import type { IscsiTargetRegistry } from '../../src/iscsi/registry.js';
import { TARGET } from './fake-target.js';

export const INITIATOR = 'iqn.1993-08.org.debian:01:testhost';

export async function startServer(registry: IscsiTargetRegistry, opts: { loginTimeoutMs?: number } = {}): Promise<{ server: IscsiServer; port: number }> {
  const server = new IscsiServer({ registry, logger: silentLogger(), ...opts });
  await server.listen('127.0.0.1', 0);
  const port = server.boundPort('127.0.0.1', 0);
  if (port === undefined) throw new Error('no port');
  return { server, port };
}

export interface LoginOptions {
  initiatorName?: string;
  targetName?: string | null;
  sessionType?: 'Normal' | 'Discovery';
  chap?: { user: string; secret: string; algorithms?: string; mutual?: { user: string; secret: string; challenge?: Buffer } };
  authMethod?: string;
  ops?: Record<string, string>;
  isid?: number;
  tsih?: number;
}

export interface LoginResult {
  status: number;
  final: LoginResponsePdu;
  keys: Map<string, string>;
  tsih: number;
}

export class TestInitiator {
  readonly received: TargetPdu[] = [];
  private waiters: Array<() => void> = [];
  private framer: Framer;
  private writer: PduWriter;
  closed = false;
  itt = 1;
  cmdSN = 1;
  expStatSN = 0;
  maxCmdSN = 1;
  expCmdSN = 1;

  private constructor(readonly socket: net.Socket) {
    this.framer = new Framer({
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: 16 * 1024 * 1024 - 1,
      onPdu: (raw) => {
        const pdu = decodePdu(raw.bhs, raw.ahs, Buffer.from(raw.data)) as TargetPdu;
        if ('statSN' in pdu && typeof pdu.statSN === 'number' && pdu.opcode !== IscsiOp.R2T) this.expStatSN = (pdu.statSN + 1) >>> 0;
        if ('maxCmdSN' in pdu) {
          this.maxCmdSN = pdu.maxCmdSN;
          this.expCmdSN = pdu.expCmdSN;
        }
        this.received.push(pdu);
        this.wake();
      },
    });
    this.writer = new PduWriter(socket, { flush: 'microtask' });
    socket.on('data', (c: Buffer) => {
      try {
        this.framer.push(c);
      } catch {
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<TestInitiator> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new TestInitiator(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  setDigests(header: boolean, data: boolean): void {
    this.framer.setDigests(header, data);
    this.writer.setDigests(header, data);
  }

  send(pdu: InitiatorPdu): void {
    this.writer.write(pdu);
  }

  writeRaw(b: Buffer): void {
    this.socket.write(b);
  }

  /** Next received PDU (optionally of an opcode), waiting up to timeoutMs. */
  async recv(timeoutMs = 3000, pred: (p: TargetPdu) => boolean = () => true): Promise<TargetPdu> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return this.received.splice(i, 1)[0] as TargetPdu;
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timeout waiting for a PDU');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves true if the connection closes within timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** Nothing matching arrives within ms (used for "ignored" checks; a bounded wait, not synchronisation). */
  async expectNothing(ms: number, pred: (p: TargetPdu) => boolean = () => true): Promise<void> {
    try {
      const p = await this.recv(ms, pred);
      throw new Error(`unexpected PDU opcode 0x${p.opcode.toString(16)}`);
    } catch (e) {
      if ((e as Error).message !== 'timeout waiting for a PDU') throw e;
    }
  }

  private loginPdu(o: LoginOptions, csg: number, nsg: number, transit: boolean, keys: Array<[string, string]>): InitiatorPdu {
    return {
      opcode: IscsiOp.LOGIN_REQUEST,
      transit,
      continue: false,
      csg,
      nsg,
      versionMax: 0,
      versionMin: 0,
      isid: o.isid ?? 0x23d000000001,
      tsih: o.tsih ?? 0,
      initiatorTaskTag: 0,
      cid: 0,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      data: encodeText(keys),
    };
  }

  private async loginStep(o: LoginOptions, csg: number, nsg: number, transit: boolean, keys: Array<[string, string]>): Promise<LoginResponsePdu> {
    this.send(this.loginPdu(o, csg, nsg, transit, keys));
    const r = (await this.recv(3000, (p) => p.opcode === IscsiOp.LOGIN_RESPONSE)) as LoginResponsePdu;
    return r;
  }

  /** Full login as Linux/libiscsi do it: security stage (None or CHAP), operational stage, FFP. */
  async login(o: LoginOptions = {}): Promise<LoginResult> {
    const keys = new Map<string, string>();
    const collect = (r: LoginResponsePdu): void => {
      for (const p of decodeText(r.data ?? Buffer.alloc(0))) keys.set(p.key, p.value);
    };
    const status = (r: LoginResponsePdu): number => (r.statusClass << 8) | r.statusDetail;
    const first: Array<[string, string]> = [['InitiatorName', o.initiatorName ?? INITIATOR]];
    if (o.sessionType === 'Discovery') first.push(['SessionType', 'Discovery']);
    else {
      first.push(['SessionType', 'Normal']);
      if (o.targetName !== null) first.push(['TargetName', o.targetName ?? TARGET]);
    }
    first.push(['AuthMethod', o.authMethod ?? (o.chap ? 'CHAP,None' : 'None')]);
    let r = await this.loginStep(o, 0, 1, true, first);
    collect(r);
    if (status(r) !== 0) return { status: status(r), final: r, keys, tsih: 0 };
    if (keys.get('AuthMethod') === 'CHAP') {
      if (!o.chap) throw new Error('target wants CHAP');
      r = await this.loginStep(o, 0, 1, false, [['CHAP_A', o.chap.algorithms ?? '5']]);
      collect(r);
      if (status(r) !== 0) return { status: status(r), final: r, keys, tsih: 0 };
      const alg = Number(keys.get('CHAP_A')) as ChapAlgorithm;
      const chal = decodeChapBinary(keys.get('CHAP_C') ?? '');
      if (chal === null) throw new Error('no CHAP_C');
      const resp = chapResponse(alg, Number(keys.get('CHAP_I')), o.chap.secret, chal);
      const k: Array<[string, string]> = [
        ['CHAP_N', o.chap.user],
        ['CHAP_R', encodeChapHex(resp)],
      ];
      const myChallenge = o.chap.mutual?.challenge ?? Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
      if (o.chap.mutual) {
        k.push(['CHAP_I', '77'], ['CHAP_C', encodeChapHex(myChallenge)]);
      }
      r = await this.loginStep(o, 0, 1, true, k);
      collect(r);
      if (status(r) !== 0) return { status: status(r), final: r, keys, tsih: 0 };
      if (o.chap.mutual) {
        const expect = chapResponse(alg, 77, o.chap.mutual.secret, myChallenge);
        if (keys.get('CHAP_N') !== o.chap.mutual.user || keys.get('CHAP_R') !== encodeChapHex(expect)) {
          throw new Error('target failed mutual CHAP');
        }
      }
    }
    if (!r.transit) throw new Error('target did not transit from the security stage');
    const ops: Array<[string, string]> = Object.entries({
      HeaderDigest: 'None',
      DataDigest: 'None',
      MaxRecvDataSegmentLength: '262144',
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      MaxBurstLength: '262144',
      FirstBurstLength: '65536',
      MaxOutstandingR2T: '1',
      ErrorRecoveryLevel: '0',
      ...(o.sessionType === 'Discovery' ? {} : {}),
      ...o.ops,
    });
    r = await this.loginStep(o, 1, 3, true, ops);
    collect(r);
    if (status(r) !== 0) return { status: status(r), final: r, keys, tsih: 0 };
    if (!r.transit || r.nsg !== 3) throw new Error('no transit to FFP');
    const hd = keys.get('HeaderDigest') === 'CRC32C';
    const dd = keys.get('DataDigest') === 'CRC32C';
    this.setDigests(hd, dd);
    return { status: 0, final: r, keys, tsih: r.tsih };
  }

  nextItt(): number {
    return this.itt++;
  }

  /** Sends a SCSI command; returns its ITT. */
  command(cdb: Buffer, o: { read?: boolean; write?: boolean; edtl: number; data?: Buffer; final?: boolean; immediate?: boolean; lun?: number; attr?: number; cmdSN?: number; itt?: number }): number {
    const itt = o.itt ?? this.nextItt();
    const c = Buffer.alloc(16);
    cdb.copy(c);
    const cmdSN = o.cmdSN ?? this.cmdSN;
    if (o.cmdSN === undefined && !o.immediate) this.cmdSN = (this.cmdSN + 1) >>> 0;
    this.send({
      opcode: IscsiOp.SCSI_COMMAND,
      immediate: o.immediate ?? false,
      final: o.final ?? true,
      read: o.read ?? false,
      write: o.write ?? false,
      taskAttribute: o.attr ?? 1,
      lun: encodeLun(o.lun ?? 0),
      initiatorTaskTag: itt,
      expectedDataTransferLength: o.edtl,
      cmdSN,
      expStatSN: this.expStatSN,
      cdb: c,
      data: o.data ?? Buffer.alloc(0),
    });
    return itt;
  }

  dataOut(itt: number, ttt: number, dataSN: number, offset: number, data: Buffer, final: boolean): void {
    this.send({
      opcode: IscsiOp.SCSI_DATA_OUT,
      final,
      lun: 0n,
      initiatorTaskTag: itt,
      targetTransferTag: ttt,
      expStatSN: this.expStatSN,
      dataSN,
      bufferOffset: offset,
      data,
    });
  }

  nopOut(itt: number, ttt = RESERVED_TAG, data = Buffer.alloc(0), immediate = true): void {
    this.send({
      opcode: IscsiOp.NOP_OUT,
      immediate,
      lun: 0n,
      initiatorTaskTag: itt,
      targetTransferTag: ttt,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      data,
    });
  }

  text(keys: Array<[string, string]>, o: { itt?: number; ttt?: number; immediate?: boolean } = {}): number {
    const itt = o.itt ?? this.nextItt();
    this.send({
      opcode: IscsiOp.TEXT_REQUEST,
      immediate: o.immediate ?? true,
      final: true,
      continue: false,
      lun: 0n,
      initiatorTaskTag: itt,
      targetTransferTag: o.ttt ?? RESERVED_TAG,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      data: encodeText(keys),
    });
    return itt;
  }

  tmf(fn: number, o: { lun?: number; rtt?: number; refCmdSN?: number } = {}): number {
    const itt = this.nextItt();
    this.send({
      opcode: IscsiOp.TASK_MGMT_REQUEST,
      immediate: true,
      function: fn,
      lun: encodeLun(o.lun ?? 0),
      initiatorTaskTag: itt,
      referencedTaskTag: o.rtt ?? RESERVED_TAG,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      refCmdSN: o.refCmdSN ?? 0,
      expDataSN: 0,
    });
    return itt;
  }

  logout(reason = 0): number {
    const itt = this.nextItt();
    this.send({
      opcode: IscsiOp.LOGOUT_REQUEST,
      immediate: true,
      reasonCode: reason,
      initiatorTaskTag: itt,
      cid: 0,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
    });
    return itt;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function read10(lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x28;
  c.writeUInt32BE(lba, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

export function write10(lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x2a;
  c.writeUInt32BE(lba, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

export function inquiry(alloc: number): Buffer {
  const c = Buffer.alloc(6);
  c[0] = 0x12;
  c.writeUInt16BE(alloc, 3);
  return c;
}
