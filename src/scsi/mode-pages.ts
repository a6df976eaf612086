/**
 * Mode parameters (SPC-4 "Mode parameters", SBC-4 "Mode parameters for direct
 * access block devices"): MODE SENSE(6/10) data and MODE SELECT(6/10) parsing.
 * Pages: Read-Write Error Recovery 01h, Caching 08h, Control 0Ah,
 * Informational Exceptions Control 1Ch. Changeable: Control D_SENSE and SWP.
 */
import type { Nexus } from './command.js';
import { ModePage } from './constants.js';
import { invalidField, invalidParam } from './cdb.js';
import type { LogicalUnit } from './logical-unit.js';
import { ScsiError } from './sense.js';

/** SPC-4 "PC (page control) field". */
export const PageControl = { CURRENT: 0, CHANGEABLE: 1, DEFAULT: 2, SAVED: 3 } as const;
export type PageControl = (typeof PageControl)[keyof typeof PageControl];

interface PageDef {
  code: number;
  /** PAGE LENGTH (bytes after the 2-byte header). */
  length: number;
  build(lu: LogicalUnit, pc: PageControl): Buffer;
  /** Applies a validated page from MODE SELECT; returns true when anything changed. */
  apply?(lu: LogicalUnit, page: Buffer): boolean;
}

function page(code: number, length: number): Buffer {
  const b = Buffer.alloc(2 + length);
  b.writeUInt8(code, 0); // PS 0 | SPF 0 | PAGE CODE
  b.writeUInt8(length, 1);
  return b;
}

const CONTROL_D_SENSE = 0x04; // byte 2 bit 2
const CONTROL_SWP = 0x08; // byte 4 bit 3
const CACHING_WCE = 0x04; // byte 2 bit 2

const PAGES: readonly PageDef[] = [
  {
    // SBC-4 "Read-Write Error Recovery mode page": nothing to recover in software.
    code: ModePage.READ_WRITE_ERROR_RECOVERY,
    length: 0x0a,
    build: () => page(ModePage.READ_WRITE_ERROR_RECOVERY, 0x0a),
  },
  {
    // SBC-4 "Caching mode page": WCE reflects the backstore; RCD 0.
    code: ModePage.CACHING,
    length: 0x12,
    build: (lu, pc) => {
      const b = page(ModePage.CACHING, 0x12);
      if (pc !== PageControl.CHANGEABLE && lu.mode.wce) b.writeUInt8(CACHING_WCE, 2);
      return b;
    },
  },
  {
    // SPC-4 "Control mode page": TST 000b, QERR 00b, D_SENSE and SWP changeable.
    code: ModePage.CONTROL,
    length: 0x0a,
    build: (lu, pc) => {
      const b = page(ModePage.CONTROL, 0x0a);
      if (pc === PageControl.CHANGEABLE) {
        b.writeUInt8(CONTROL_D_SENSE, 2);
        b.writeUInt8(CONTROL_SWP, 4);
        return b;
      }
      const cur = pc === PageControl.CURRENT;
      b.writeUInt8(cur && lu.mode.dSense ? CONTROL_D_SENSE : 0, 2);
      b.writeUInt8(0x10, 3); // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering; QERR 00b
      b.writeUInt8(cur && lu.mode.swp ? CONTROL_SWP : 0, 4);
      b.writeUInt16BE(0xffff, 8); // BUSY TIMEOUT PERIOD: unlimited
      return b;
    },
    apply: (lu, p) => {
      const dSense = (p.readUInt8(2) & CONTROL_D_SENSE) !== 0;
      const swp = (p.readUInt8(4) & CONTROL_SWP) !== 0;
      const changed = dSense !== lu.mode.dSense || swp !== lu.mode.swp;
      lu.mode.dSense = dSense;
      lu.mode.swp = swp;
      return changed;
    },
  },
  {
    // SPC-4 "Informational Exceptions Control mode page": no exceptions reported.
    code: ModePage.INFORMATIONAL_EXCEPTIONS_CONTROL,
    length: 0x0a,
    build: () => page(ModePage.INFORMATIONAL_EXCEPTIONS_CONTROL, 0x0a),
  },
];

function findPage(code: number): PageDef | undefined {
  return PAGES.find((p) => p.code === code);
}

/** MODE SENSE(6) (ten = false) or MODE SENSE(10) data, whole (dispatch truncates). */
export function modeSense(lu: LogicalUnit, cdb: Buffer, ten: boolean): Buffer {
  const dbd = (cdb.readUInt8(1) & 0x08) !== 0;
  const llbaa = ten && (cdb.readUInt8(1) & 0x10) !== 0;
  const pc = (cdb.readUInt8(2) >> 6) as PageControl;
  const code = cdb.readUInt8(2) & 0x3f;
  const subpage = cdb.readUInt8(3);
  if (pc === PageControl.SAVED) {
    // SPC-4 "MODE SENSE(6)": saved values not implemented → SAVING PARAMETERS NOT SUPPORTED.
    throw new ScsiError('SAVING_PARAMETERS_NOT_SUPPORTED');
  }
  const pages: Buffer[] = [];
  if (code === ModePage.ALL_PAGES) {
    if (subpage !== 0x00 && subpage !== 0xff) throw invalidField(3);
    for (const p of PAGES) pages.push(p.build(lu, pc));
  } else {
    const def = findPage(code);
    if (def === undefined) throw invalidField(2, 5);
    // We implement no subpages; 0xFF asks for all subpages of the page (only subpage 0 here).
    if (subpage !== 0x00 && subpage !== 0xff) throw invalidField(3);
    pages.push(def.build(lu, pc));
  }
  // Block descriptor (SBC-4 "Block descriptors"): short unless LLBAA asks for the long form.
  let bd: Buffer = Buffer.alloc(0);
  if (!dbd) {
    const blocks = lu.capacityBlocks;
    if (llbaa) {
      bd = Buffer.alloc(16);
      bd.writeBigUInt64BE(BigInt(blocks), 0); // NUMBER OF LOGICAL BLOCKS
      bd.writeUInt32BE(lu.blockSize, 12); // LOGICAL BLOCK LENGTH
    } else {
      bd = Buffer.alloc(8);
      bd.writeUInt32BE(blocks > 0xffffffff ? 0xffffffff : blocks, 0);
      bd.writeUInt32BE(lu.blockSize & 0xffffff, 4); // reserved byte 4 + LOGICAL BLOCK LENGTH (3 bytes)
    }
  }
  // SBC-4 "Device-specific parameter": WP | DPOFUA.
  const wp = lu.readOnly || lu.mode.swp;
  const dsp = (pc === PageControl.CURRENT && wp ? 0x80 : 0) | 0x10;
  const body = Buffer.concat([bd, ...pages]);
  if (ten) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(6 + body.length, 0); // MODE DATA LENGTH
    h.writeUInt8(dsp, 3);
    h.writeUInt8(llbaa && bd.length > 0 ? 0x01 : 0, 4); // LONGLBA
    h.writeUInt16BE(bd.length, 6); // BLOCK DESCRIPTOR LENGTH
    return Buffer.concat([h, body]);
  }
  const h = Buffer.alloc(4);
  h.writeUInt8(Math.min(0xff, 3 + body.length), 0); // MODE DATA LENGTH
  h.writeUInt8(dsp, 2);
  h.writeUInt8(bd.length, 3);
  return Buffer.concat([h, body]);
}

/**
 * MODE SELECT(6/10): validates the whole parameter list first, then applies it
 * (SPC-4: on error no parameters change). Returns true when a current value changed;
 * the caller raises MODE PARAMETERS CHANGED for the other nexuses.
 */
export function modeSelect(lu: LogicalUnit, _nexus: Nexus, cdb: Buffer, param: Buffer, ten: boolean): boolean {
  const pf = (cdb.readUInt8(1) & 0x10) !== 0;
  const sp = (cdb.readUInt8(1) & 0x01) !== 0;
  if (sp) throw invalidField(1, 0); // we cannot save pages
  if (param.length === 0) return false;
  if (!pf) throw invalidField(1, 4); // vendor-specific page format not supported
  const headerLen = ten ? 8 : 4;
  if (param.length < headerLen) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
  const bdLen = ten ? param.readUInt16BE(6) : param.readUInt8(3);
  let off = headerLen;
  if (bdLen > 0) {
    const longLba = ten && (param.readUInt8(4) & 0x01) !== 0;
    const one = longLba ? 16 : 8;
    if (bdLen !== one || param.length < off + bdLen) throw invalidParam(ten ? 6 : 3);
    const blockLen = longLba ? param.readUInt32BE(off + 12) : param.readUInt32BE(off + 4) & 0xffffff;
    if (blockLen !== lu.blockSize) throw invalidParam(off + (longLba ? 12 : 5));
    off += bdLen;
  }
  const updates: Array<{ def: PageDef; data: Buffer }> = [];
  while (off < param.length) {
    if (param.length < off + 2) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    const b0 = param.readUInt8(off);
    if ((b0 & 0x40) !== 0) throw invalidParam(off, 6); // SPF: no subpages
    const def = findPage(b0 & 0x3f);
    if (def === undefined) throw invalidParam(off, 5);
    const len = param.readUInt8(off + 1);
    if (len !== def.length) throw invalidParam(off + 1);
    if (param.length < off + 2 + len) throw new ScsiError('PARAMETER_LIST_LENGTH_ERROR');
    const data = param.subarray(off, off + 2 + len);
    const current = def.build(lu, PageControl.CURRENT);
    const changeable = def.build(lu, PageControl.CHANGEABLE);
    // SPC-4 "MODE SELECT": a field not changeable must hold its current value.
    for (let i = 2; i < data.length; i++) {
      const diff = (data.readUInt8(i) ^ current.readUInt8(i)) & ~changeable.readUInt8(i) & 0xff;
      if (diff !== 0) throw invalidParam(off + i, 31 - Math.clz32(diff));
    }
    updates.push({ def, data });
    off += 2 + len;
  }
  let changed = false;
  for (const u of updates) {
    if (u.def.apply?.(lu, u.data) === true) changed = true;
  }
  return changed;
}
