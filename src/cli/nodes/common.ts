import type { ChapAuth } from '../../config/schema.js';
import type { TreeState } from '../state.js';
import { UsageError, humanSize, type Command, type CommandContext, type ParsedArgs, type UiNode } from '../tree.js';

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

export const CHAP_PARAMS = [{ name: 'username' }, { name: 'password' }, { name: 'mutual_username' }, { name: 'mutual_password' }];

/** `auth username= password= [mutual_username= mutual_password=]` or `auth nochap` → form. */
export function chapForm(cmd: Command, args: ParsedArgs): Record<string, string> {
  if (args.positional.length === 1 && args.positional[0] === 'nochap' && Object.keys(args.kw).length === 0) {
    return { username: '', password: '', mutual_username: '', mutual_password: '' };
  }
  if (args.positional.length > 0) throw new UsageError(`unexpected argument "${args.positional[0]}"`, cmd);
  for (const k of Object.keys(args.kw)) if (!CHAP_PARAMS.some((p) => p.name === k)) throw new UsageError(`unknown parameter "${k}"`, cmd);
  const f = { username: args.kw['username'] ?? '', password: args.kw['password'] ?? '', mutual_username: args.kw['mutual_username'] ?? '', mutual_password: args.kw['mutual_password'] ?? '' };
  // gwcli/utils.py valid_credentials combinations
  if (f.password && !f.username) throw new UsageError('password requires username', cmd);
  if (!f.username || !f.password) throw new UsageError('username and password are required (or nochap)', cmd);
  if (Boolean(f.mutual_username) !== Boolean(f.mutual_password)) throw new UsageError('mutual_username and mutual_password go together', cmd);
  return f;
}

export function ok(ctx: CommandContext): void {
  ctx.out('ok');
}

export function enc(s: string): string {
  return s.split('/').map(encodeURIComponent).join('/');
}

/** pool/image ids of the disks defined in the config (completion values). */
export function diskIds(node: UiNode, state: TreeState): string[] {
  void node;
  return Object.keys(state.config.disks).sort();
}
