/**
 * A reader of the Prometheus text exposition format (version 0.0.4): what `gwcli top` and the
 * tests need of a scrape (samples with labels, and the declared TYPE of each family).
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromScrape {
  samples: PromSample[];
  /** Family name → declared type (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
}

/** A sample value; as Go's ParseFloat (what Prometheus uses), NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string): number | undefined {
  const t = text.toLowerCase();
  if (t === '+inf' || t === 'inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return NaN;
  const v = Number(text);
  return text === '' || Number.isNaN(v) ? undefined : v;
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the brace); the labels and the index after `}`. */
function parseLabels(line: string, i: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let j = i + 1;
  while (j < line.length && line[j] !== '}') {
    const eq = line.indexOf('=', j);
    if (eq < 0 || line[eq + 1] !== '"') throw new Error(`bad label at column ${j}`);
    const key = line.slice(j, eq).trim();
    let k = eq + 2;
    let value = '';
    while (k < line.length && line[k] !== '"') {
      if (line[k] === '\\') {
        const n = line[k + 1];
        value += n === 'n' ? '\n' : (n ?? '');
        k += 2;
      } else {
        value += line[k];
        k++;
      }
    }
    if (k >= line.length) throw new Error('unterminated label value');
    labels[key] = value;
    j = k + 1;
    if (line[j] === ',') j++;
  }
  if (line[j] !== '}') throw new Error('unterminated label set');
  return { labels, end: j + 1 };
}

/** Parses an exposition text; throws on a malformed sample line. */
export function parsePromText(text: string): PromScrape {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m !== null) types.set(m[1] ?? '', m[2] ?? '');
      continue;
    }
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.slice(0, brace);
      const l = parseLabels(line, brace);
      labels = l.labels;
      rest = line.slice(l.end).trim();
    } else {
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = parseValue(rest.split(/\s+/)[0] ?? '');
    if (name === '' || value === undefined) throw new Error(`bad sample line: ${line}`);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(scrape: PromScrape, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of scrape.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/**
 * The q-quantile (0..1) of a histogram from its cumulative buckets (`le` → count), linear inside
 * the bucket as Prometheus's histogram_quantile does; undefined without observations.
 */
export function histogramQuantile(q: number, buckets: ReadonlyArray<{ le: number; count: number }>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
