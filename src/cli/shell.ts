/**
 * The command interpreter shared by one-shot and interactive modes: current node, built-ins
 * (cd, ls, pwd, help, goto, bookmarks, exit), node commands, and the readline completer.
 */
import type { ApiClient } from './client.js';
import { loadState } from './state.js';
import { buildTree } from './nodes/root.js';
import { UiNode, UsageError, promptPath, renderTree, resolvePath, splitArgs, tokenize, type Command, type CommandContext } from './tree.js';

const BUILTINS: Record<string, { syntax: string; description: string }> = {
  cd: { syntax: '[path]', description: 'Change the current node (absolute, relative, ..).' },
  ls: { syntax: '[path] [depth]', description: 'Show the tree below path (default: the current node).' },
  pwd: { syntax: '', description: 'Print the path of the current node.' },
  help: { syntax: '[command]', description: 'List the commands of this node, or show the syntax of one.' },
  goto: { syntax: '<bookmark>', description: 'cd to a bookmark: gateways, hosts, host-groups (of the first target).' },
  bookmarks: { syntax: '', description: 'List the bookmarks.' },
  exit: { syntax: '', description: 'Leave the shell.' },
};

export class Shell {
  tree: UiNode = new UiNode('');
  cwd = '/';

  constructor(
    readonly api: ApiClient,
    readonly out: (line: string) => void,
    readonly width: () => number = () => 80,
  ) {}

  /** Re-reads the state from the API and rebuilds the tree; the current node is kept if it still exists. */
  async refresh(): Promise<void> {
    this.tree = buildTree(await loadState(this.api));
    let p = this.cwd;
    while (resolvePath(this.tree, p) === undefined && p !== '/') p = p.slice(0, p.lastIndexOf('/')) || '/';
    this.cwd = p;
  }

  /** For tests: a tree built elsewhere. */
  setTree(tree: UiNode): void {
    this.tree = tree;
  }

  get node(): UiNode {
    return resolvePath(this.tree, this.cwd) ?? this.tree;
  }

  prompt(): string {
    return `${promptPath(this.cwd)}> `;
  }

  bookmarks(): Record<string, string> {
    const targets = resolvePath(this.tree, '/iscsi-targets');
    const first = targets?.children[0];
    if (first === undefined) return {};
    return { gateways: `${first.path}/gateways`, hosts: `${first.path}/hosts`, 'host-groups': `${first.path}/host-groups` };
  }

  private need(path: string): UiNode {
    const n = resolvePath(this.node, path);
    if (n === undefined) throw new UsageError(`No such path ${path}`);
    return n;
  }

  /** Runs one line; returns false on `exit`. Errors are thrown (UsageError, ApiCallError). */
  async exec(line: string): Promise<boolean> {
    let tokens = tokenize(line);
    if (tokens.length === 0) return true;
    let at = this.node;
    // configshell: a leading path runs the rest of the line at that node (alone: cd).
    const first = tokens[0]!;
    if (first.startsWith('/') || first === '.' || first === '..' || first.startsWith('./') || first.startsWith('../')) {
      at = this.need(first);
      tokens = tokens.slice(1);
      if (tokens.length === 0) {
        this.cwd = at.path;
        return true;
      }
    }
    const [name, ...rest] = tokens as [string, ...string[]];
    switch (name) {
      case 'exit':
        return false;
      case 'pwd':
        this.out(at.path);
        return true;
      case 'cd':
        this.cwd = rest.length === 0 ? '/' : resolvePath(at, rest.join(' '))?.path ?? this.fail(`No such path ${rest.join(' ')}`);
        return true;
      case 'ls': {
        let depth = Infinity;
        const args = [...rest];
        if (args.length > 0 && /^\d+$/.test(args[args.length - 1]!)) depth = Number(args.pop());
        const target = args.length === 0 ? at : resolvePath(at, args.join(' ')) ?? this.fail(`No such path ${args.join(' ')}`);
        for (const l of renderTree(target, depth, this.width())) this.out(l);
        return true;
      }
      case 'help':
        this.help(at, rest[0]);
        return true;
      case 'bookmarks':
        for (const [k, v] of Object.entries(this.bookmarks())) this.out(`${k}: ${v}`);
        return true;
      case 'goto': {
        const b = this.bookmarks()[rest[0] ?? ''];
        if (b === undefined) this.fail(`No such bookmark ${rest[0] ?? ''} (${Object.keys(this.bookmarks()).join(', ') || 'none yet'})`);
        this.cwd = b;
        return true;
      }
    }
    const cmd = at.commands.get(name);
    if (cmd === undefined) {
      const here = [...at.commands.keys(), ...Object.keys(BUILTINS)].sort().join(', ');
      throw new UsageError(`Command not found ${name} at ${at.path} (commands here: ${here})`);
    }
    let newCwd: string | undefined;
    const ctx: CommandContext = { api: this.api, out: this.out, cd: (p) => (newCwd = p) };
    await cmd.run(at, splitArgs(rest), ctx);
    await this.refresh();
    if (newCwd !== undefined && resolvePath(this.tree, newCwd) !== undefined) this.cwd = newCwd;
    return true;
  }

  private fail(msg: string): never {
    throw new UsageError(msg);
  }

  private help(at: UiNode, topic: string | undefined): void {
    if (topic === undefined) {
      this.out(`AVAILABLE COMMANDS at ${at.path}`);
      for (const c of [...at.commands.values()].sort((a, b) => a.name.localeCompare(b.name))) this.out(`  - ${c.name} ${c.syntax}`.trimEnd());
      this.out('BUILT-INS');
      for (const [n, b] of Object.entries(BUILTINS)) this.out(`  - ${n} ${b.syntax}`.trimEnd());
      return;
    }
    const c: Command | undefined = at.commands.get(topic);
    const b = BUILTINS[topic];
    if (c === undefined && b === undefined) throw new UsageError(`No help for "${topic}" at ${at.path}`);
    this.out('SYNTAX');
    this.out('======');
    this.out(`${topic} ${c?.syntax ?? b!.syntax}`.trimEnd());
    this.out('');
    this.out('DESCRIPTION');
    this.out('===========');
    for (const l of (c?.description ?? b!.description).split('\n')) this.out(l);
  }

  // -------------------------------------------------------------------------------------------
  // Completion (readline completer): commands, paths, parameter names and values.

  complete(line: string): [string[], string] {
    const endsBlank = line === '' || /\s$/.test(line);
    let tokens: string[];
    try {
      tokens = tokenize(line);
    } catch {
      return [[], ''];
    }
    const word = endsBlank ? '' : tokens.pop() ?? '';
    let at = this.node;
    if (tokens.length > 0 && (tokens[0]!.startsWith('/') || tokens[0]!.startsWith('.'))) {
      const n = resolvePath(at, tokens[0]!);
      if (n === undefined) return [[], word];
      at = n;
      tokens = tokens.slice(1);
    }
    if (tokens.length === 0) {
      if (word.startsWith('/') || word.startsWith('.')) return [this.completePath(at, word), word];
      const names = [...at.commands.keys(), ...Object.keys(BUILTINS)].sort();
      const children = at.children.map((c) => `${c.name}/`);
      return [[...names.map((n) => `${n} `), ...children].filter((n) => n.startsWith(word)), word];
    }
    const cmdName = tokens[0]!;
    if (cmdName === 'cd' || cmdName === 'ls') return [this.completePath(at, word), word];
    if (cmdName === 'help') return [[...at.commands.keys(), ...Object.keys(BUILTINS)].sort().filter((n) => n.startsWith(word)), word];
    if (cmdName === 'goto') return [Object.keys(this.bookmarks()).filter((n) => n.startsWith(word)), word];
    const cmd = at.commands.get(cmdName);
    if (cmd === undefined) return [[], word];
    const given = splitArgs(tokens.slice(1));
    const eq = word.indexOf('=');
    if (eq > 0) {
      const p = cmd.params.find((x) => x.name === word.slice(0, eq));
      const vals = p?.values?.(at) ?? [];
      return [vals.map((v) => `${p!.name}=${v}`).filter((v) => v.startsWith(word)), word];
    }
    const free = cmd.params.filter((p) => !(p.name in given.kw));
    const positional = free[given.positional.length];
    const values = positional?.values?.(at) ?? [];
    const keys = free.slice(given.positional.length).map((p) => `${p.name}=`);
    return [[...values, ...keys].filter((v) => v.startsWith(word)), word];
  }

  private completePath(at: UiNode, word: string): string[] {
    const slash = word.lastIndexOf('/');
    const dir = slash < 0 ? '' : word.slice(0, slash + 1);
    const base = dir === '' ? at : resolvePath(at, dir);
    if (base === undefined) return [];
    const partial = word.slice(slash + 1);
    const out = base.children.filter((c) => c.name.startsWith(partial)).map((c) => `${dir}${c.name}/`);
    if ('..'.startsWith(partial) && base.parent !== null && partial.startsWith('.')) out.push(`${dir}../`);
    return out;
  }
}
