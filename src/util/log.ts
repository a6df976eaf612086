/**
 * Structured logging (pino). One root logger per process from createLogger(),
 * child loggers per component (`log.child({ component: 'iscsi' })`).
 *
 * Secrets never reach the output: every field that can carry a CHAP or API
 * secret is redacted by path, at any depth up to four levels (objects such as
 * a whole target or client config entry), plus HTTP Authorization headers.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger, LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

/** Field names that hold secrets, wherever they appear. */
const SECRET_KEYS = [
  'password',
  'mutual_password',
  'api_password',
  'secret',
  'chap_secret',
  'mutual_secret',
  'CHAP_R',
  'CHAP_C',
  'CHAP_I',
  'authorization',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const k of SECRET_KEYS) {
    paths.push(k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`, `*.*.*.*.${k}`);
  }
  paths.push(
    'req.headers.authorization',
    'req.headers.cookie',
    'request.headers.authorization',
    'headers.authorization',
    'headers.Authorization',
    'req.headers["proxy-authorization"]',
    'body.password',
    'body.mutual_password',
    'req.body',
  );
  return paths;
}

/** Redaction paths, exported for tests and for other pino instances (fastify). */
export const REDACT_PATHS: readonly string[] = Object.freeze(redactPaths());

export type LogLevel = LevelWithSilent;

/**
 * Maps a level given as a pino name ("info"), a Python logging number
 * (iscsi-gateway.cfg `logger_level`: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR,
 * 50 CRITICAL) or a Python name ("WARNING") to a pino level.
 */
export function toPinoLevel(level: string | number | undefined): LogLevel {
  if (level === undefined) return 'info';
  if (typeof level === 'number') {
    if (level <= 10) return 'debug';
    if (level <= 20) return 'info';
    if (level <= 30) return 'warn';
    if (level <= 40) return 'error';
    return 'fatal';
  }
  const l = level.trim().toLowerCase();
  switch (l) {
    case 'trace': case 'debug': case 'info': case 'warn': case 'error': case 'fatal': case 'silent':
      return l;
    case 'warning':
      return 'warn';
    case 'critical':
      return 'fatal';
    case 'notset':
      return 'trace';
    default:
      if (/^[0-9]+$/.test(l)) return toPinoLevel(Number(l));
      return 'info';
  }
}

export interface CreateLoggerOptions {
  level?: string | number;
  name?: string;
  /** File path (appended to; directories must exist), fd number, or a stream. Default: stdout. */
  destination?: string | number | DestinationStream | NodeJS.WritableStream;
  /** Write synchronously (tests, short-lived CLIs). Default true for files and fds (crash-safe), ignored for streams. */
  sync?: boolean;
  /** "json" (default): one JSON object per line; "text": formatLogLine() lines for people at a terminal. */
  format?: 'json' | 'text';
  /** Colour the level of text lines (a terminal without NO_COLOR). */
  color?: boolean;
}

/** Creates the process logger. */
export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options = {
    level: toPinoLevel(opts.level),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
    // Error objects under `err` keep message and stack.
    serializers: { err: pino.stdSerializers.err },
  };
  const d = opts.destination;
  if (opts.format === 'text') {
    const sink: DestinationStream & { flush?: (cb: (err?: Error) => void) => void } =
      d === undefined || typeof d === 'string' || typeof d === 'number'
        ? pino.destination({ dest: d ?? 1, sync: opts.sync ?? true, mkdir: typeof d === 'string' })
        : (d as DestinationStream);
    const color = opts.color === true;
    const text = {
      write: (line: string): void => {
        sink.write(formatLogLine(line, color));
      },
      flush: (cb: (err?: Error) => void): void => {
        if (typeof sink.flush === 'function') sink.flush(cb);
        else cb();
      },
    };
    return pino(options, text);
  }
  if (d === undefined) return pino(options);
  if (typeof d === 'string' || typeof d === 'number') {
    return pino(options, pino.destination({ dest: d, sync: opts.sync ?? true, mkdir: typeof d === 'string' }));
  }
  return pino(options, d as DestinationStream);
}

const LEVEL_LABELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** ANSI colours of the level label: warn yellow, error and fatal red, debug/trace dim. */
const LEVEL_COLORS: Readonly<Record<number, string>> = { 10: '2', 20: '2', 40: '33', 50: '31', 60: '1;31' };
/** Fields every line has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'component', 'err']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON line as a line for people (log_format = text, or a terminal):
 * `12:34:56.789 WARN  iscsi: iSCSI login failed remote=10.0.0.5 initiator=iqn... failures=6`,
 * then an error's stack indented below. Lines that are not JSON pass through unchanged.
 */
export function formatLogLine(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof rec.level === 'number' ? rec.level : 30;
  const when = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  let label = LEVEL_LABELS[level] ?? String(level);
  const c = LEVEL_COLORS[level];
  if (color && c !== undefined) label = `\x1b[${c}m${label}\x1b[0m`;
  const component = typeof rec.component === 'string' ? `${rec.component}: ` : '';
  const fields = Object.entries(rec)
    .filter(([k]) => !HEAD_FIELDS.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  let out = `${when} ${label} ${component}${typeof rec.msg === 'string' ? rec.msg : ''}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
  const err = rec.err as { message?: unknown; stack?: unknown } | undefined;
  if (err !== undefined && err !== null) {
    const stack = typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : JSON.stringify(err);
    out += stack.split('\n').map((l) => `    ${l}\n`).join('');
  }
  return out;
}

/** A logger that writes nothing (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
