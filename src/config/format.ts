/**
 * The document's text: Python `json.dumps(doc, sort_keys=True, indent=4)` as ceph-iscsi writes
 * gateway.conf (common.py `_commit_rbd`), plus a trailing newline.
 *
 * `formatConfig` formats a whole document. `ConfigFormatter` gives the same bytes but keeps the
 * text of every frozen object it formatted: documents are frozen and share their unchanged
 * parts with the previous epoch (snapshot.ts), so a change of one disk formats that disk and
 * the lines of its ancestors, and the rest is kept text. An object's text is kept as a tree of
 * pieces (strings and arrays of pieces), joined once for the whole document: a map of 1,000
 * disks that gained one costs 1,000 references, not a copy of its text at every level.
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
  return ARRAY_INDEX.test(k) && Number(k) < 2 ** 32 - 1;
}

/**
 * Key order of formatConfig: sorted, except that JSON.stringify lists integer-like keys of the
 * sorted copy first, in numeric order (ECMA-262 OrdinaryOwnPropertyKeys).
 */
function orderedKeys(o: object): string[] {
  const keys = Object.keys(o).sort();
  if (!keys.some(isArrayIndex)) return keys;
  const ints = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return [...ints, ...keys.filter((k) => !isArrayIndex(k))];
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** Text as a tree: a string, or pieces to concatenate in order. */
type Piece = string | Piece[];

function indent(depth: number): string {
  return ' '.repeat(depth * INDENT);
}

export class ConfigFormatter {
  /** Text of frozen objects by depth (an object's depth in a document does not change). */
  #kept = new WeakMap<object, { depth: number; text: Piece }>();
  /** `"key": text` of frozen values inside objects, by the value: a map's lines survive its copy. */
  #lines = new WeakMap<object, { depth: number; key: string; line: Piece }>();

  format(doc: unknown): string {
    // One join for the whole document (a flat string: encoding it is a straight copy).
    const out: string[] = [];
    flatten(this.#value(doc, 0, ''), out);
    out.push('\n');
    return out.join('');
  }

  #value(v: unknown, depth: number, key: string): Piece {
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
    let text = Array.isArray(v) ? this.#array(v, depth) : this.#object(v, depth);
    // A small object (a disk, a LUN reference) is one string; a large map, and whatever holds
    // one, stays a list of its lines, so that a copy of it with one more entry reuses every
    // other line as it is.
    if (typeof text !== 'string' && text.length <= 2 * SMALL + 2 && text.every((p) => typeof p === 'string')) text = text.join('');
    if (frozen) this.#kept.set(v, { depth, text });
    return text;
  }

  #array(a: readonly unknown[], depth: number): Piece {
    if (a.length === 0) return '[]';
    const inner = indent(depth + 1);
    const out: Piece[] = ['[\n'];
    for (let i = 0; i < a.length; i++) {
      const item = a[i];
      if (i > 0) out.push(',\n');
      out.push(inner, omitted(item) ? 'null' : this.#value(item, depth + 1, String(i)));
    }
    out.push(`\n${indent(depth)}]`);
    return out;
  }

  #object(o: object, depth: number): Piece {
    const out: Piece[] = ['{\n'];
    let first = true;
    for (const k of orderedKeys(o)) {
      const item = (o as Record<string, unknown>)[k];
      if (omitted(item)) continue;
      if (!first) out.push(',\n');
      first = false;
      out.push(this.#line(k, item, depth + 1));
    }
    if (first) return '{}';
    out.push(`\n${indent(depth)}}`);
    return out;
  }

  /** One member of an object at `depth`: indent, key, value. */
  #line(k: string, item: unknown, depth: number): Piece {
    const keep = item !== null && typeof item === 'object' && Object.isFrozen(item);
    if (keep) {
      const hit = this.#lines.get(item);
      if (hit !== undefined && hit.depth === depth && hit.key === k) return hit.line;
    }
    const prefix = `${indent(depth)}${JSON.stringify(k)}: `;
    const value = this.#value(item, depth, k);
    const line: Piece = typeof value === 'string' ? prefix + value : [prefix, value];
    if (keep) this.#lines.set(item, { depth, key: k, line });
    return line;
  }
}

function join(p: Piece): string {
  if (typeof p === 'string') return p;
  const out: string[] = [];
  flatten(p, out);
  return out.join('');
}

/** Appends the strings of `p` to `out` in order (iterative: deep documents do not grow the stack). */
function flatten(p: Piece, out: string[]): void {
  const stack: { list: Piece[]; i: number }[] = [];
  let cur: Piece = p;
  for (;;) {
    if (typeof cur === 'string') {
      out.push(cur);
    } else {
      stack.push({ list: cur, i: 0 });
    }
    let next: Piece | undefined;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i < top.list.length) {
        next = top.list[top.i++];
        break;
      }
      stack.pop();
    }
    if (next === undefined) return;
    cur = next;
  }
}
