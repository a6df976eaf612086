/**
 * gwcli: `gwcli [--api URL] [--config FILE] [--json] [command...]`. With a command: one-shot
 * (exit 0, or 1 with the server's message on stderr). Without: the interactive shell
 * (node:readline, tab completion, history and bookmarks in ~/.gwcli/, or $GWCLI_HOME).
 */
import { createInterface } from 'node:readline';
import { readFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, DEFAULT_CFG, parseIni, resolveApi } from './client.js';
import { Prefs, Shell } from './shell.js';
import { endpointsFromConfig, endpointsFromList, parseTopArgs, runTop, TOP_USAGE, type GatewayEndpoint, type TopArgs, type TopIo } from './top.js';
import { packageVersion } from '../util/version.js';

const USAGE = `usage: gwcli [--api URL] [--config FILE] [--json] [path] [command [args...]]
  --api URL      REST API (http[s]://[user:password@]host:port); default from the cfg file
  --config FILE  iscsi-gateway.cfg (default /etc/ceph/iscsi-gateway.cfg)
  --json         machine-readable output of ls, info, export and import
  -v, --version  print the version
  -h, --help     this text
Without a command: interactive shell (help lists the commands of each node).
gwcli top [options]: live view of every gateway (gwcli top --help).`;

export interface CliArgs {
  api?: string;
  config?: string;
  json?: boolean;
  help: boolean;
  /** Set (true) only when -v/--version was given. */
  version?: boolean;
  command: string[];
}

/** Where history and bookmarks live: $GWCLI_HOME, else ~/.gwcli. */
export function gwcliHome(): string {
  return process.env['GWCLI_HOME'] ?? join(homedir(), '.gwcli');
}

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { help: false, command: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const take = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--api') out.api = take();
    else if (a.startsWith('--api=')) out.api = a.slice(6);
    else if (a === '--config' || a === '-c') out.config = take();
    else if (a.startsWith('--config=')) out.config = a.slice(9);
    else if (a === '-h' || a === '--help') out.help = true;
    else if (a === '--json') out.json = true;
    else if (a === '-v' || a === '--version') out.version = true;
    else if (a === '--') { i++; break; }
    else break;
  }
  out.command = argv.slice(i);
  return out;
}

/** Words back into one shell line (quotes around words with blanks). */
function joinWords(words: readonly string[]): string {
  return words.map((w) => (/[\s"']/.test(w) || w === '' ? (w.includes('"') ? `'${w}'` : `"${w}"`) : w)).join(' ');
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 1;
  }
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args.version === true) {
    process.stdout.write(`gwcli ${packageVersion()}\n`);
    return 0;
  }
  if (args.command[0] === 'top') return top(args);
  let shell: Shell;
  try {
    const api = new ApiClient(resolveApi({ api: args.api, config: args.config }));
    const tty = process.stdout.isTTY === true;
    shell = new Shell(api, (l) => process.stdout.write(l + '\n'), {
      width: () => (tty ? process.stdout.columns : 80),
      color: tty && process.env['NO_COLOR'] === undefined && process.env['TERM'] !== 'dumb',
      json: args.json === true,
      prefs: new Prefs(join(gwcliHome(), 'prefs.json')),
    });
    await shell.refresh();
  } catch (e) {
    process.stderr.write(`Unable to contact the local API endpoint: ${(e as Error).message}\n`);
    return 1;
  }
  if (args.command.length > 0) {
    try {
      await shell.exec(joinWords(args.command));
      return 0;
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
  }
  return interactive(shell);
}

/** `gwcli top`: the gateways from the local API's config, their exporters at prometheus_port. */
async function top(args: CliArgs): Promise<number> {
  if (args.command.includes('-h') || args.command.includes('--help')) {
    process.stdout.write(TOP_USAGE + '\n');
    return 0;
  }
  let parsed: TopArgs;
  try {
    parsed = parseTopArgs(args.command.slice(1));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const config = parsed.config ?? args.config;
  const apiUrl = parsed.api ?? args.api;
  let endpoints: () => Promise<GatewayEndpoint[]>;
  if (parsed.gateways !== undefined) {
    const list = endpointsFromList(parsed.gateways);
    endpoints = () => Promise.resolve(list);
  } else {
    let cfgPort: string | undefined;
    try {
      cfgPort = parseIni(readFileSync(config ?? DEFAULT_CFG, 'utf8'))['config']?.['prometheus_port'];
    } catch {
      // no cfg: upstream's default port
    }
    const port = parsed.metricsPort ?? Number(cfgPort ?? 9287);
    let api: ApiClient;
    try {
      api = new ApiClient(resolveApi({ api: apiUrl, config }), 5_000);
      await api.get('/api/config');
    } catch (e) {
      process.stderr.write(`Unable to contact the local API endpoint: ${(e as Error).message}\n`);
      return 1;
    }
    endpoints = async () => endpointsFromConfig(await api.get('/api/config'), port);
  }
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const io: TopIo = {
    write: (t) => process.stdout.write(t),
    width: () => (process.stdout.isTTY === true ? process.stdout.columns : 160),
  };
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    io.onKey = (fn) => process.stdin.on('data', (d: string) => { for (const k of d) fn(k); });
    io.close = () => {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    };
  }
  await runTop(endpoints, parsed.o, io, parsed.iterations ?? (tty ? undefined : 1));
  return 0;
}

async function interactive(shell: Shell): Promise<number> {
  const histPath = join(gwcliHome(), 'history.txt');
  try {
    mkdirSync(gwcliHome(), { recursive: true, mode: 0o700 });
  } catch {
    // history is best effort
  }
  let history: string[] = [];
  try {
    history = readFileSync(histPath, 'utf8').split('\n').filter((l) => l !== '').reverse().slice(0, 1000);
  } catch {
    // no history yet
  }
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    history,
    historySize: 1000,
    completer: (line: string): [string[], string] => shell.complete(line),
  });
  rl.setPrompt(shell.prompt());
  rl.prompt();
  for await (const line of rl) {
    if (line.trim() !== '') {
      try {
        appendFileSync(histPath, line + '\n');
      } catch {
        // history is best effort
      }
    }
    try {
      if (!(await shell.exec(line))) break;
    } catch (e) {
      process.stdout.write(`${(e as Error).message}\n`);
    }
    rl.setPrompt(shell.prompt());
    rl.prompt();
  }
  rl.close();
  return 0;
}

// Run when executed directly (node dist/src/cli/main.js) or through bin/gwcli.js.
const entry = process.argv[1] ?? '';
if (entry.endsWith('/cli/main.js') || entry.endsWith('/gwcli.js') || entry.endsWith('/gwcli')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
