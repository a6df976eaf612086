/**
 * The gwcli UI tree (configshell's model, STYLE §4.10): nodes with children, a summary and an
 * explicit command registry `{name, params, run, complete?}`; the same spec drives help, completion
 * and argument binding. `renderTree` prints configshell's `ls` format exactly.
 */
import type { ApiClient } from './client.js';

export interface ParamSpec {
  name: string;
  /** Must be given (positionally or as key=value). */
  required?: boolean;
  /** Candidate values for completion. */
  values?: (node: UiNode) => string[];
}

export interface CommandContext {
  api: ApiClient;
  out: (line: string) => void;
  /** Change the current node after the command (hosts create → cd into the client). */
  cd: (path: string) => void;
  /** `--json` was given: print machine-readable output (ls, info, export). */
  json: boolean;
}

export interface Command {
  name: string;
  params: ParamSpec[];
  /** One-line syntax shown by help after the name, e.g. `pool=<p> image=<i> size=<n>{M,G,T}`. */
  syntax: string;
  description: string;
  run: (node: UiNode, args: ParsedArgs, ctx: CommandContext) => Promise<void>;
}

export class UiNode {
  readonly children: UiNode[] = [];
  parent: UiNode | null = null;
  readonly commands = new Map<string, Command>();

  constructor(
    readonly name: string,
    private readonly summaryFn: () => string = () => '',
  ) {}

  summary(): string {
    return this.summaryFn();
  }

  add(child: UiNode): UiNode {
    child.parent = this;
    this.children.push(child);
    return child;
  }

  command(c: Command): this {
    this.commands.set(c.name, c);
    return this;
  }

  get path(): string {
    if (this.parent === null) return '/';
    const pp = this.parent.path;
    return pp === '/' ? `/${this.name}` : `${pp}/${this.name}`;
  }

  get root(): UiNode {
    let n: UiNode = this;
    while (n.parent !== null) n = n.parent;
    return n;
  }

  child(name: string): UiNode | undefined {
    return this.children.find((c) => c.name === name);
  }
}

/**
 * Resolves `path` from `from`: absolute or relative, `.` and `..`; a child name may itself contain
 * `/` (target disks are named `pool/image`), so several segments are tried joined, longest first.
 */
export function resolvePath(from: UiNode, path: string): UiNode | undefined {
  let node: UiNode = path.startsWith('/') ? from.root : from;
  const segs = path.split('/').filter((s) => s !== '');
  let i = 0;
  while (i < segs.length) {
    const s = segs[i]!;
    if (s === '.') { i++; continue; }
    if (s === '..') { node = node.parent ?? node; i++; continue; }
    let found: UiNode | undefined;
    for (let k = segs.length - i; k >= 1 && found === undefined; k--) {
      found = node.child(segs.slice(i, i + k).join('/'));
      if (found !== undefined) i += k;
    }
    if (found === undefined) return undefined;
    node = found;
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Arguments: configshell accepts positional and key=value parameters on the same line.

export interface ParsedArgs {
  positional: string[];
  kw: Record<string, string>;
}

/** Splits a command line on blanks; single or double quotes group words. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur !== '') out.push(cur);
      cur = '';
      has = false;
    } else cur += ch;
  }
  if (quote !== null) throw new Error('unterminated quote');
  if (has || cur !== '') out.push(cur);
  return out;
}

export function splitArgs(tokens: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const kw: Record<string, string> = {};
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq > 0 && /^[A-Za-z_][\w]*$/.test(t.slice(0, eq))) kw[t.slice(0, eq)] = t.slice(eq + 1);
    else positional.push(t);
  }
  return { positional, kw };
}

/**
 * Binds positional arguments to the command's parameters in order (those not given as key=value),
 * then checks required ones and unknown keywords. Returns name → value.
 */
export function bindArgs(cmd: Command, args: ParsedArgs): Record<string, string> {
  const out: Record<string, string> = {};
  const names = new Set(cmd.params.map((p) => p.name));
  for (const [k, v] of Object.entries(args.kw)) {
    if (!names.has(k)) throw new UsageError(`unknown parameter "${k}"`, cmd);
    out[k] = v;
  }
  const free = cmd.params.filter((p) => !(p.name in out));
  if (args.positional.length > free.length) throw new UsageError(`too many arguments: "${args.positional.slice(free.length).join(' ')}"`, cmd);
  args.positional.forEach((v, i) => (out[free[i]!.name] = v));
  for (const p of cmd.params) if (p.required && !(p.name in out)) throw new UsageError(`missing parameter "${p.name}"`, cmd);
  return out;
}

export class UsageError extends Error {
  constructor(
    message: string,
    readonly cmd?: Command,
  ) {
    super(cmd ? `${message}\nSYNTAX: ${cmd.name} ${cmd.syntax}`.trimEnd() : message);
    this.name = 'UsageError';
  }
}

// ---------------------------------------------------------------------------------------------
// Sizes: ceph_iscsi_config.utils.human_size (b/K/M/G with no decimals, T/P one, E/Z two).

export function humanSize(bytes: number): string {
  let num = bytes;
  for (const [unit, prec] of [['b', 0], ['K', 0], ['M', 0], ['G', 0], ['T', 1], ['P', 1], ['E', 2], ['Z', 2]] as const) {
    if (num < 1024) return `${num.toFixed(prec)}${unit}`;
    num /= 1024;
  }
  return `${num.toFixed(2)}Y`;
}

// ---------------------------------------------------------------------------------------------
// ls: configshell-fb ConfigNode._render_tree layout.
//   o- name ........ [summary]      summary right-aligned at `width`
// Children are indented by two columns; a parent that has later siblings draws `|` down its column.

export function renderTree(node: UiNode, depth = Infinity, width = 80, color = false): string[] {
  const lines: string[] = [];
  const walk = (n: UiNode, margin: string, level: number, isLast: boolean, isTop: boolean): void => {
    const name = n.parent === null ? '/' : n.name;
    const head = `${margin}o- ${name}`;
    const desc = `[${n.summary() || '...'}]`;
    const dots = Math.max(1, width - head.length - desc.length - 2);
    lines.push(`${head} ${'.'.repeat(dots)} ${color ? colorize(desc) : desc}`);
    if (level >= depth) return;
    const childMargin = margin + (isTop || isLast ? '  ' : '| ');
    n.children.forEach((c, i) => walk(c, childMargin, level + 1, i === n.children.length - 1, false));
  };
  walk(node, '', 0, true, true);
  return lines;
}

// Colour (terminals only): state words in summaries, as gwcli shows health and states.
const GREEN = /\b(HEALTH_OK|UP|Online|LOGGED-IN|ACL_ENABLED)\b/g;
const YELLOW = /\b(HEALTH_WARN|ACL_DISABLED|Unknown)\b/g;
const RED = /\b(HEALTH_ERR|DOWN|Offline|MISCONFIG)\b/g;

export function colorize(text: string): string {
  return text
    .replace(GREEN, '\x1b[32m$1\x1b[0m')
    .replace(YELLOW, '\x1b[33m$1\x1b[0m')
    .replace(RED, '\x1b[31m$1\x1b[0m');
}

export interface TreeJson {
  name: string;
  path: string;
  summary: string;
  children?: TreeJson[];
}

/** `ls --json`: the same tree as data (name, path, summary, children up to depth). */
export function treeJson(node: UiNode, depth = Infinity, level = 0): TreeJson {
  const out: TreeJson = { name: node.parent === null ? '/' : node.name, path: node.path, summary: node.summary() };
  if (level < depth && node.children.length > 0) out.children = node.children.map((c) => treeJson(c, depth, level + 1));
  return out;
}

// ---------------------------------------------------------------------------------------------
// info: gwcli prints `Label .. value` rows, lists as `- item` under their label.

function label(key: string): string {
  return key.split('_').map((w) => (w === '' ? w : w[0]!.toUpperCase() + w.slice(1))).join(' ');
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function formatInfo(info: Record<string, unknown>): string[] {
  const keys = Object.keys(info);
  const w = Math.max(0, ...keys.filter((k) => !isNested(info[k])).map((k) => label(k).length));
  const lines: string[] = [];
  for (const k of keys) {
    const v = info[k];
    if (Array.isArray(v)) {
      lines.push(label(k));
      for (const item of v) lines.push(`- ${scalar(item)}`);
    } else if (isNested(v)) {
      lines.push(label(k));
      const obj = v as Record<string, unknown>;
      const iw = Math.max(0, ...Object.keys(obj).map((x) => x.length));
      for (const [ik, iv] of Object.entries(obj)) lines.push(`- ${ik.padEnd(iw)} .. ${scalar(iv)}`);
    } else lines.push(`${label(k).padEnd(w)} .. ${scalar(v)}`);
  }
  return lines;
}

function isNested(v: unknown): boolean {
  return Array.isArray(v) || (typeof v === 'object' && v !== null);
}

/** configshell's prompt: paths longer than prompt_length (30) become head...tail. */
export function promptPath(path: string, promptLength = 30): string {
  if (promptLength > 0 && path.length > promptLength) {
    const half = Math.floor((promptLength - 3) / 2);
    return `${path.slice(0, half)}...${path.slice(path.length - half)}`;
  }
  return path;
}
