/**
 * The document's text: Python `json.dumps(doc, sort_keys=True, indent=4)` as ceph-iscsi writes
 * gateway.conf (common.py `_commit_rbd`), plus a trailing newline.
 *
 * `formatConfig` formats a whole document. `ConfigFormatter` gives the same bytes but keeps the
 * text of every frozen object it formatted: documents are frozen and share their unchanged
 * parts with the previous epoch (snapshot.ts), so a change of one disk re-formats that disk and
 * its ancestors, and the rest is the concatenation of kept text.
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
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Key order of formatConfig: sorted, except that JSON.stringify lists integer-like keys of the
 * sorted copy first, in numeric order (ECMA-262 OrdinaryOwnPropertyKeys).
 */
function orderedKeys(o: object): string[] {
  const keys = Object.keys(o).sort();
  const ints = keys.filter((k) => ARRAY_INDEX.test(k) && Number(k) < 2 ** 32 - 1);
  if (ints.length === 0) return keys;
  ints.sort((a, b) => Number(a) - Number(b));
  return [...ints, ...keys.filter((k) => !(ARRAY_INDEX.test(k) && Number(k) < 2 ** 32 - 1))];
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function omitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

export class ConfigFormatter {
  /** Text of frozen objects by depth (an object's depth in a document does not change). */
  #kept = new WeakMap<object, { depth: number; text: string }>();

  format(doc: unknown): string {
    return `${this.#value(doc, 0, '')}\n`;
  }

  #value(v: unknown, depth: number, key: string): string {
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
    const text = Array.isArray(v) ? this.#array(v, depth) : this.#object(v, depth);
    if (frozen) this.#kept.set(v, { depth, text });
    return text;
  }

  #array(a: readonly unknown[], depth: number): string {
    if (a.length === 0) return '[]';
    const inner = ' '.repeat((depth + 1) * INDENT);
    const parts: string[] = [];
    for (let i = 0; i < a.length; i++) {
      const item = a[i];
      parts.push(inner + (omitted(item) ? 'null' : this.#value(item, depth + 1, String(i))));
    }
    return `[\n${parts.join(',\n')}\n${' '.repeat(depth * INDENT)}]`;
  }

  #object(o: object, depth: number): string {
    const inner = ' '.repeat((depth + 1) * INDENT);
    const parts: string[] = [];
    for (const k of orderedKeys(o)) {
      const item = (o as Record<string, unknown>)[k];
      if (omitted(item)) continue;
      parts.push(`${inner}${JSON.stringify(k)}: ${this.#value(item, depth + 1, k)}`);
    }
    if (parts.length === 0) return '{}';
    return `{\n${parts.join(',\n')}\n${' '.repeat(depth * INDENT)}}`;
  }
}
