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
  if (d === undefined) return pino(options);
  if (typeof d === 'string' || typeof d === 'number') {
    return pino(options, pino.destination({ dest: d, sync: opts.sync ?? true, mkdir: typeof d === 'string' }));
  }
  return pino(options, d as DestinationStream);
}

/** A logger that writes nothing (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
