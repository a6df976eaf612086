/**
 * The command interpreter shared by one-shot and interactive modes: current node, built-ins
 * (cd, ls, pwd, help, goto, bookmarks, exit), node commands, and the readline completer.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApiClient } from './client.js';
import { loadState } from './state.js';
import { buildTree } from './nodes/root.js';
import { UiNode, UsageError, promptPath, renderTree, resolvePath, splitArgs, tokenize, treeJson, type Command, type CommandContext } from './tree.js';

const BUILTINS: Record<string, { syntax: string; description: string }> = {
  cd: { syntax: '[path]', description: 'Change the current node (absolute, relative, ..); without a path: /.' },
  ls: { syntax: '[path] [depth] [--json]', description: 'Show the tree below path (default: the current node), depth levels deep.\n--json prints it as data (name, path, summary, children).' },
  pwd: { syntax: '', description: 'Print the path of the current node.' },
  help: { syntax: '[command]', description: 'List the commands of this node, or show the syntax of one.' },
  goto: { syntax: '<bookmark>', description: 'cd to a bookmark: gateways, hosts, host-groups (of the first target, saved automatically) or one of yours.' },
  bookmarks: { syntax: '[add <name> [path] | del <name>]', description: 'List the bookmarks, add one (the current node by default) or delete one. Yours are kept across sessions.' },
  exit: { syntax: '', description: 'Leave the shell.' },
};

const AUTO_BOOKMARKS = ['gateways', 'hosts', 'host-groups'];

/** User bookmarks (and later other preferences) in a JSON file, as upstream's ~/.gwcli/prefs.bin. */
export class Prefs {
  private data: { bookmarks: Record<string, string> } = { bookmarks: {} };
  constructor(private readonly path: string | undefined) {
    if (path === undefined) return;
    try {
      const v = JSON.parse(readFileSync(path, 'utf8')) as { bookmarks?: unknown };
      if (typeof v.bookmarks === 'object' && v.bookmarks !== null) {
        for (const [k, p] of Object.entries(v.bookmarks)) if (typeof p === 'string') this.data.bookmarks[k] = p;
      }
    } catch {
      // no preferences yet (or unreadable: start empty)
    }
  }
  get bookmarks(): Readonly<Record<string, string>> {
    return this.data.bookmarks;
  }
  setBookmark(name: string, path: string | undefined): void {
    if (path === undefined) delete this.data.bookmarks[name];
    else this.data.bookmarks[name] = path;
    if (this.path === undefined) return;
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(this.path, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600 });
  }
}

export interface ShellOptions {
  width?: () => number;
  /** ANSI colours in ls (terminals only). */
  color?: boolean;
  /** --json for every command (one-shot `gwcli --json ...`). */
  json?: boolean;
  prefs?: Prefs;
}

export class Shell {
  tree: UiNode = new UiNode('');
  cwd = '/';

  readonly width: () => number;
  private readonly color: boolean;
  private readonly json: boolean;
  readonly prefs: Prefs;

  constructor(
    readonly api: ApiClient,
    readonly out: (line: string) => void,
    opts: ShellOptions = {},
  ) {
    this.width = opts.width ?? (() => 80);
    this.color = opts.color ?? false;
    this.json = opts.json ?? false;
    this.prefs = opts.prefs ?? new Prefs(undefined);
  }

  /** Re-reads the state from the API and rebuilds the tree; the current node is kept if it still exists. */
  private loadedAt = 0;

  async refresh(): Promise<void> {
    this.tree = buildTree(await loadState(this.api));
    this.loadedAt = Date.now();
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
    const auto: Record<string, string> = first === undefined ? {} : Object.fromEntries(AUTO_BOOKMARKS.map((b) => [b, `${first.path}/${b}`]));
    return { ...auto, ...this.prefs.bookmarks };
  }

  private bookmarkCmd(at: UiNode, args: string[]): void {
    const [sub, name, path] = args;
    if (sub === undefined || sub === 'show') {
      for (const [k, v] of Object.entries(this.bookmarks())) this.out(`${k}: ${v}`);
      return;
    }
    const syntax = `SYNTAX: bookmarks ${BUILTINS['bookmarks']!.syntax}`;
    if (name === undefined || !/^[\w.-]+$/.test(name)) throw new UsageError(`bookmarks ${sub}: give a name (letters, digits, _ . -)\n${syntax}`);
    if (sub === 'add') {
      if (AUTO_BOOKMARKS.includes(name)) throw new UsageError(`bookmark ${name} is kept by gwcli itself; choose another name`);
      const node = path === undefined ? at : resolvePath(at, path);
      if (node === undefined) throw new UsageError(`No such path ${path ?? ''}`);
      this.prefs.setBookmark(name, node.path);
      this.out(`bookmarked ${node.path} as ${name}`);
    } else if (sub === 'del') {
      if (this.prefs.bookmarks[name] === undefined) throw new UsageError(`No such bookmark ${name}`);
      this.prefs.setBookmark(name, undefined);
      this.out(`deleted bookmark ${name}`);
    } else throw new UsageError(`unknown bookmarks action "${sub}"\n${syntax}`);
  }

  private need(path: string): UiNode {
    const n = resolvePath(this.node, path);
    if (n === undefined) throw new UsageError(`No such path ${path}`);
    return n;
  }

  /** Runs one line; returns false on `exit`. Errors are thrown (UsageError, ApiCallError). */
  async exec(line: string): Promise<boolean> {
    let tokens = tokenize(line);
    const json = this.json || tokens.includes('--json');
    tokens = tokens.filter((t) => t !== '--json');
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
        // ls shows the cluster as it is now (another administrator, another gateway may have changed it)
        if (Date.now() - this.loadedAt > 1000) await this.refresh();
        at = resolvePath(this.tree, at.path) ?? this.tree;
        let depth = Infinity;
        const args = [...rest];
        if (args.length > 0 && /^\d+$/.test(args[args.length - 1]!)) depth = Number(args.pop());
        const target = args.length === 0 ? at : resolvePath(at, args.join(' ')) ?? this.fail(`No such path ${args.join(' ')}`);
        if (json) this.out(JSON.stringify(treeJson(target, depth), null, 2));
        else for (const l of renderTree(target, depth, this.width(), this.color)) this.out(l);
        return true;
      }
      case 'help':
        this.help(at, rest[0]);
        return true;
      case 'bookmarks':
        this.bookmarkCmd(at, rest);
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
    const ctx: CommandContext = { api: this.api, out: this.out, cd: (p) => (newCwd = p), json };
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
    if (cmdName === 'bookmarks') {
      if (tokens.length === 1) return [['add', 'del', 'show'].filter((n) => n.startsWith(word)), word];
      if (tokens[1] === 'del' && tokens.length === 2) return [Object.keys(this.prefs.bookmarks).filter((n) => n.startsWith(word)), word];
      if (tokens[1] === 'add' && tokens.length === 3) return [this.completePath(at, word), word];
      return [[], word];
    }
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
