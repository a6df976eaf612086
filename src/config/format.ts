/**
 * The document's text: Python `json.dumps(doc, sort_keys=True, indent=4)` as ceph-iscsi writes
 * gateway.conf (common.py `_commit_rbd`), plus a trailing newline.
 *
 * `formatConfig` formats a whole document. `ConfigFormatter` gives the same bytes but keeps the
 * text of every frozen object it formatted: documents are frozen and share their unchanged
 * parts with the previous epoch (snapshot.ts), so a change of one disk formats that disk and
 * the lines of its ancestors, and the rest is kept text. A large object's text is kept as a tree
 * of encoded pieces (Buffers and arrays of pieces), copied once into the document's bytes: a map
 * of 1,000 disks that gained one costs 1,000 references and one encoding of the new line, not a
 * string of the whole document and its UTF-8 encoding on every change.
 */

/** Serialises like Python json.dumps(sort_keys=True, indent=4): keys sorted at every level. */
export function formatConfig(doc: unknown): string {
  return `${JSON.stringify(sortKeys(doc), null, 4)}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) out[k] = sortKeys(o[k]);
    return out;
  }
  return v;
}

const INDENT = 4;
/** Objects and arrays of at most this many members, none of them large, keep their text as one string. */
const SMALL = 32;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

function isArrayIndex(k: string): boolean {
  const c = k.charCodeAt(0); // a digit first, or not an index (most keys: no regex run)
  return c >= 48 && c <= 57 && ARRAY_INDEX.test(k) && Number(k) < 2 ** 32 - 1;
}

/**
 * Key order of formatConfig: sorted, except that JSON.stringify lists integer-like keys of the
 * sorted copy first, in numeric order (ECMA-262 OrdinaryOwnPropertyKeys).
 */
function orderKeys(own: string[]): string[] {
  const keys = own.sort();
  if (!keys.some(isArrayIndex)) return keys;
  const ints = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return [...ints, ...keys.filter((k) => !isArrayIndex(k))];
}

/**
 * orderKeys of `o` (own keys `own`) from those of `prev` (`prevOrdered`), an earlier version
 * of it: its keys that `o` still has, and the keys it added, sorted and merged in. undefined
 * when that is not cheaper (mostly new keys) or integer-like keys are involved. A map of 1,000
 * disks built by inserts is in creation order, not sorted: sorting it again on every change
 * cost ~0.3 ms.
 */
function orderedFrom(o: object, own: readonly string[], prev: object, prevOrdered: readonly string[]): string[] | undefined {
  const added: string[] = [];
  for (const k of own) {
    if (Object.hasOwn(prev, k)) continue;
    if (isArrayIndex(k) || (added.length + 1) * 4 > own.length) return undefined;
    added.push(k);
  }
  if (prevOrdered.length > 0 && isArrayIndex(prevOrdered[0]!)) return undefined;
  const kept = own.length - added.length;
  const base = kept === prevOrdered.length ? prevOrdered : prevOrdered.filter((k) => Object.hasOwn(o, k));
  if (base.length !== kept) return undefined;
  added.sort();
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < base.length && j < added.length) out.push(base[i]! < added[j]! ? base[i++]! : added[j++]!);
  while (i < base.length) out.push(base[i++]!);
  while (j < added.length) out.push(added[j++]!);
  return out;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/**
 * Encoded text as a tree: bytes, or pieces to write in order. A small object's text is a string
 * until it becomes a line of a large one; it is encoded then, once (the line is kept).
 */
type Piece = Buffer | Piece[];

/** Text of a value: a string (scalars, small objects and arrays) or encoded pieces (large ones). */
type Text = string | Piece;

/**
 * One member of an object: its text, and once a large object holds it, that text encoded
 * after the separator that precedes every member but the first (one piece per member).
 */
interface Line {
  depth: number;
  key: string;
  text: Text;
  bytes?: Buffer;
  afterComma?: Piece;
  /** The last line of a run (see #run): chosen by the key, so that an insertion changes one run. */
  endsRun: boolean;
}

/** Lines per run of a large object, on average. */
const RUN = 32;

/** FNV-1a of the key, modulo RUN: a run ends after ~1 line in RUN, wherever that line sits. */
function endsRun(key: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % RUN === 0;
}

function indent(depth: number): string {
  return ' '.repeat(depth * INDENT);
}

const OPEN_OBJECT = Buffer.from('{\n');
const OPEN_ARRAY = Buffer.from('[\n');
const COMMA = Buffer.from(',\n');
const NEWLINE = Buffer.from('\n');
/** `\n<indent>}` and `\n<indent>]` by depth. */
const closers = new Map<string, Buffer>();

function closer(depth: number, bracket: '}' | ']'): Buffer {
  const k = `${depth}${bracket}`;
  let b = closers.get(k);
  if (b === undefined) closers.set(k, (b = Buffer.from(`\n${indent(depth)}${bracket}`)));
  return b;
}

function lineBytes(line: Line, first: boolean): Piece {
  if (first) return typeof line.text === 'string' ? (line.bytes ??= Buffer.from(line.text)) : line.text;
  return (line.afterComma ??= typeof line.text === 'string' ? Buffer.from(`,\n${line.text}`) : [COMMA, line.text]);
}

export class ConfigFormatter {
  /** Text of frozen objects by depth (an object's depth in a document does not change). */
  #kept = new WeakMap<object, { depth: number; text: Text }>();
  /** `"key": text` of frozen values inside objects, by the value: a map's lines survive its copy. */
  #lines = new WeakMap<object, Line>();
  /** Key order of large frozen objects formatted (see #keys). */
  #ordered = new WeakMap<object, string[]>();
  /** The last large object formatted at each path: likely the previous version of the next one there. */
  #lastAt = new Map<string, object>();
  /**
   * The bytes of runs of consecutive lines of large objects, by their first line: the document
   * is ~100 pieces for the vectored write instead of one per line (the write's binding costs
   * ~0.2 µs per piece on the main thread: 2,100 pieces at 1,000 LUNs), and a change of one
   * entry encodes its run again (~32 lines).
   */
  #runs = new WeakMap<Line, { lines: Line[]; first: boolean; bytes: Buffer }>();

  /** The document's bytes: formatConfig's text, UTF-8. */
  formatBytes(doc: unknown): Buffer {
    // One copy of the kept bytes into the output: no string of the whole document is built.
    return Buffer.concat(this.formatPieces(doc));
  }

  /**
   * The document's bytes as the kept pieces, in order (for a vectored write: the kernel copies
   * them, no buffer of the whole document is made).
   */
  formatPieces(doc: unknown): Buffer[] {
    const text = this.#value(doc, 0, '', '');
    const out: Buffer[] = [];
    collect(typeof text === 'string' ? Buffer.from(text) : text, out);
    out.push(NEWLINE);
    return out;
  }

  format(doc: unknown): string {
    return this.formatBytes(doc).toString('utf8');
  }

  /** `path`: where `v` sits in the document (keys joined by NUL), a hint for #keys. */
  #value(v: unknown, depth: number, key: string, path: string): Text {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON: (k: string) => unknown }).toJSON(key);
    }
    if (v === null || typeof v !== 'object') {
      // Strings, numbers (NaN/Infinity as null), booleans, null, as JSON.stringify writes them.
      return JSON.stringify(v) ?? 'null';
    }
    const frozen = Object.isFrozen(v);
    if (frozen) {
      const hit = this.#kept.get(v);
      if (hit !== undefined && hit.depth === depth) return hit.text;
    }
    // A small object (a disk, a LUN reference) is one string; a large map, and whatever holds
    // one, stays a list of its encoded lines, so that a copy of it with one more entry reuses
    // every other line as it is.
    const text = Array.isArray(v) ? this.#array(v, depth, path) : this.#object(v, depth, path);
    if (frozen) this.#kept.set(v, { depth, text });
    return text;
  }

  #array(a: readonly unknown[], depth: number, path: string): Text {
    if (a.length === 0) return '[]';
    const items: Text[] = [];
    let small = a.length <= SMALL;
    for (const item of a) {
      const key = String(items.length);
      const text = omitted(item) ? 'null' : this.#value(item, depth + 1, key, `${path}\0${key}`);
      if (typeof text !== 'string') small = false;
      items.push(text);
    }
    const inner = indent(depth + 1);
    if (small) return `[\n${inner}${items.join(`,\n${inner}`)}\n${indent(depth)}]`;
    const innerBytes = Buffer.from(inner);
    const out: Piece[] = [OPEN_ARRAY];
    for (let i = 0; i < items.length; i++) {
      const text = items[i]!;
      if (i > 0) out.push(COMMA);
      out.push(innerBytes, typeof text === 'string' ? Buffer.from(text) : text);
    }
    out.push(closer(depth, ']'));
    return out;
  }

  #object(o: object, depth: number, path: string): Text {
    const lines: Line[] = [];
    let small = true;
    for (const k of this.#keys(o, path)) {
      const item = (o as Record<string, unknown>)[k];
      if (omitted(item)) continue;
      const line = this.#line(k, item, depth + 1, path);
      if (typeof line.text !== 'string') small = false;
      lines.push(line);
    }
    if (lines.length === 0) return '{}';
    if (small && lines.length <= SMALL) return `{\n${lines.map((l) => l.text).join(',\n')}\n${indent(depth)}}`;
    const out: Piece[] = [OPEN_OBJECT];
    let run: Line[] = [];
    let runFirst = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (typeof line.text !== 'string') {
        // A large value: its own pieces.
        if (run.length > 0) out.push(this.#run(run, runFirst));
        run = [];
        out.push(lineBytes(line, i === 0));
        continue;
      }
      if (run.length === 0) runFirst = i === 0;
      run.push(line);
      if (line.endsRun) {
        out.push(this.#run(run, runFirst));
        run = [];
      }
    }
    if (run.length > 0) out.push(this.#run(run, runFirst));
    out.push(closer(depth, '}'));
    return out;
  }

  /** The bytes of consecutive lines whose texts are strings; `first`: the first line opens its object (no comma). */
  #run(lines: Line[], first: boolean): Buffer {
    const hit = this.#runs.get(lines[0]!);
    if (hit !== undefined && hit.first === first && hit.lines.length === lines.length && hit.lines.every((l, i) => l === lines[i])) return hit.bytes;
    const bytes = Buffer.concat(lines.map((l, i) => lineBytes(l, first && i === 0) as Buffer));
    this.#runs.set(lines[0]!, { lines, first, bytes });
    return bytes;
  }

  /**
   * orderKeys(Object.keys(o)); for a large frozen object, derived from the order of the last one formatted
   * at the same path when `o` is a copy of it with a few keys more or less (orderedFrom).
   */
  #keys(o: object, path: string): string[] {
    const own = Object.keys(o);
    if (own.length <= SMALL || !Object.isFrozen(o)) return orderKeys(own);
    const prev = this.#lastAt.get(path);
    const prevOrdered = prev !== undefined ? this.#ordered.get(prev) : undefined;
    const keys = (prev !== undefined && prevOrdered !== undefined ? orderedFrom(o, own, prev, prevOrdered) : undefined) ?? orderKeys(own);
    this.#ordered.set(o, keys);
    this.#lastAt.set(path, o);
    return keys;
  }

  /** One member of an object at `depth`: indent, key, value. */
  #line(k: string, item: unknown, depth: number, parentPath: string): Line {
    const keep = item !== null && typeof item === 'object' && Object.isFrozen(item);
    if (keep) {
      const hit = this.#lines.get(item);
      if (hit !== undefined && hit.depth === depth && hit.key === k) return hit;
    }
    const prefix = `${indent(depth)}${JSON.stringify(k)}: `;
    const value = this.#value(item, depth, k, `${parentPath}\0${k}`);
    const line: Line = { depth, key: k, text: typeof value === 'string' ? prefix + value : [Buffer.from(prefix), value], endsRun: endsRun(k) };
    if (keep) this.#lines.set(item, line);
    return line;
  }
}

/** Appends the tree's buffers to `out` in order (recursion as deep as the document's nesting, like #value's). */
function collect(p: Piece, out: Buffer[]): void {
  if (Buffer.isBuffer(p)) out.push(p);
  else for (const child of p) collect(child, out);
}
