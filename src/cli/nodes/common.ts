import type { ChapAuth } from '../../config/schema.js';
import type { TreeState } from '../state.js';
import { UsageError, bindArgs, formatInfo, humanSize, type Command, type CommandContext, type ParamSpec, type ParsedArgs } from '../tree.js';

export function sizeOf(state: TreeState, id: string): number | undefined {
  return state.disks[id]?.size;
}

/** Size text; `?` when the API gives no size for the image. */
export function sizeText(n: number | undefined): string {
  return n === undefined ? '?' : humanSize(n);
}

/** Sum of known sizes; `?` if any is unknown. */
export function totalText(state: TreeState, ids: readonly string[]): string {
  let sum = 0;
  for (const id of ids) {
    const s = sizeOf(state, id);
    if (s === undefined) return '?';
    sum += s;
  }
  return humanSize(sum);
}

/** gwcli: None | CHAP | CHAP_MUTUAL */
export function authKind(a: ChapAuth | undefined): string {
  if (a === undefined || !a.username) return 'None';
  return a.mutual_username ? 'CHAP_MUTUAL' : 'CHAP';
}

/** CHAP as `info` shows it: user names in clear, secrets masked (they are in `export`). */
export function authInfo(a: ChapAuth | undefined): Record<string, string> {
  if (a === undefined || !a.username) return { chap: 'None' };
  const out: Record<string, string> = { username: a.username, password: '********' };
  if (a.mutual_username) Object.assign(out, { mutual_username: a.mutual_username, mutual_password: '********' });
  return out;
}

export const CHAP_PARAMS: ParamSpec[] = [{ name: 'username' }, { name: 'password' }, { name: 'mutual_username' }, { name: 'mutual_password' }];
export const CHAP_SYNTAX = 'username=<user> password=<pass> [mutual_username=<user> mutual_password=<pass>] | nochap';
export const CHAP_RULES =
  'username: 8-64 characters (letters, digits, _ . : @ -)\n' +
  'password: 12-16 characters (letters, digits, @ - _ /)\n' +
  'mutual_username/mutual_password: the same rules; both or neither';

// gwcli/utils.py valid_credentials
const USER_RE = /^[\w\\.:@-]{8,64}$/;
const PASS_RE = /^[\w@\-/]{12,16}$/;

/** `auth username= password= [mutual_username= mutual_password=]` or `auth nochap` → form. */
export function chapForm(cmd: Command, args: ParsedArgs): Record<string, string> {
  if (args.positional.length === 1 && args.positional[0] === 'nochap' && Object.keys(args.kw).length === 0) {
    return { username: '', password: '', mutual_username: '', mutual_password: '' };
  }
  if (args.positional.length > 0) throw new UsageError(`unexpected argument "${args.positional[0]}"`, cmd);
  for (const k of Object.keys(args.kw)) if (!CHAP_PARAMS.some((p) => p.name === k)) throw new UsageError(`unknown parameter "${k}"`, cmd);
  const f = { username: args.kw['username'] ?? '', password: args.kw['password'] ?? '', mutual_username: args.kw['mutual_username'] ?? '', mutual_password: args.kw['mutual_password'] ?? '' };
  if (f.password && !f.username) throw new UsageError('password requires username', cmd);
  if (!f.username || !f.password) throw new UsageError('username and password are required (or nochap)', cmd);
  if (Boolean(f.mutual_username) !== Boolean(f.mutual_password)) throw new UsageError('mutual_username and mutual_password go together', cmd);
  for (const k of ['username', 'mutual_username'] as const) {
    if (f[k] && !USER_RE.test(f[k])) throw new UsageError(`invalid ${k}: 8-64 characters, letters, digits and _ . : @ -`, cmd);
  }
  for (const k of ['password', 'mutual_password'] as const) {
    // the value itself is never echoed
    if (f[k] && !PASS_RE.test(f[k])) throw new UsageError(`invalid ${k}: 12-16 characters, letters, digits and @ - _ /`, cmd);
  }
  return f;
}

export function ok(ctx: CommandContext): void {
  if (!ctx.json) ctx.out('ok');
}

/** `info`: the rows, or the object as JSON with --json. */
export function printInfo(ctx: CommandContext, info: Record<string, unknown>): void {
  if (ctx.json) ctx.out(JSON.stringify(info, null, 2));
  else for (const l of formatInfo(info)) ctx.out(l);
}

/** A command taking no argument that prints `info()`. */
export function infoCommand(description: string, info: (ctx: CommandContext) => Record<string, unknown> | Promise<Record<string, unknown>>): Command {
  const c: Command = {
    name: 'info',
    params: [],
    syntax: '',
    description,
    run: async (_n, args, ctx) => {
      bindArgs(c, args);
      printInfo(ctx, await info(ctx));
    },
  };
  return c;
}

/** gwcli's `refresh`: the shell re-reads everything after each command, so it has nothing else to do. */
export function refreshCommand(what: string): Command {
  const c: Command = {
    name: 'refresh',
    params: [],
    syntax: '',
    description: `Re-read ${what} from the API.`,
    run: async (_n, args) => void bindArgs(c, args),
  };
  return c;
}

/** Path segments percent-encoded, keeping `:` and `@` (legal in a path, and how IQNs appear upstream). */
export function enc(s: string): string {
  return s.split('/').map((p) => encodeURIComponent(p).replace(/%3A/gi, ':').replace(/%40/g, '@')).join('/');
}

/** pool/image ids of the disks defined in the config (completion values). */
export function diskIds(state: TreeState): string[] {
  return Object.keys(state.config.disks).sort();
}

/** Control values with the stored overrides marked, as gwcli's disk/target info. */
export function controlsInfo(defaults: Record<string, unknown> | undefined, overrides: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = new Set([...Object.keys(defaults ?? {}), ...Object.keys(overrides ?? {})]);
  for (const k of [...keys].sort()) {
    const o = overrides?.[k];
    out[k] = o !== undefined && o !== '' ? `${String(o)} (override)` : String(defaults?.[k] ?? '');
  }
  return out;
}

/** `reconfigure <attribute> <value>` → the controls JSON of the API (an empty value resets). */
export function controlsForm(cmd: Command, a: Record<string, string>, known: readonly string[]): Record<string, string> {
  const attr = a['attribute']!;
  if (known.length > 0 && !known.includes(attr)) throw new UsageError(`unknown attribute "${attr}" (one of: ${known.join(', ')})`, cmd);
  return { mode: 'reconfigure', controls: JSON.stringify({ [attr]: a['value'] ?? '' }) };
}
