/**
 * REST errors. Every answer the API gives on failure is `{"message": "..."}`
 * with the status code rbd-target-api uses for the same failure
 * (ceph-iscsi rbd-target-api.py); bad input is a 4xx, never a 500.
 */
import { GatewayError } from '../util/errors.js';

/** Thrown by route code (also inside store mutators: nothing is written) to answer `status` + `{"message"}`. */
export class ApiError extends GatewayError {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(statusCode === 404 ? 'ERR_API_NOT_FOUND' : 'ERR_API_REQUEST', message);
    this.statusCode = statusCode;
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const notFound = (message: string): ApiError => new ApiError(404, message);

/**
 * HTTP status for an error that escaped a route. GatewayError codes are stable
 * (util/errors.ts); anything unknown is a 500 "Unhandled exception".
 */
export function statusForError(err: unknown): number {
  if (err instanceof ApiError) return err.statusCode;
  if (err instanceof GatewayError) {
    const code = err.code;
    if (code.endsWith('_NOT_FOUND')) return 404;
    if (code.endsWith('_EXISTS') || code === 'ERR_CONFIG_CONFLICT') return 409;
    if (code.startsWith('ERR_CONFIG_INVALID') || code.endsWith('_INVALID') || code.endsWith('_NOT_SUPPORTED')) return 400;
    if (code.endsWith('_TIMEOUT') || code === 'ERR_CONFIG_LOCKED' || code === 'ERR_CONFIG_CLOSED') return 503;
    return 500;
  }
  // fastify's own errors (body too large, bad JSON, unsupported media type) carry a 4xx statusCode.
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const s = (err as { statusCode: unknown }).statusCode;
    if (typeof s === 'number' && s >= 400 && s < 500) return s;
  }
  return 500;
}

/** The message an error answer carries; unexpected errors get rbd-target-api's "Unhandled exception: ..." form. */
export function messageForError(err: unknown, status: number): string {
  const raw = err instanceof Error ? err.message : String(err);
  if (status === 500 && !(err instanceof ApiError)) return `Unhandled exception: ${raw}`;
  return raw;
}

/**
 * A backstore failure (BackstoreError carries an ERR_BACKSTORE_* code). Matched by
 * code, not class: api/ may import backstore/ for types only (STYLE.md §4.2).
 */
export function isBackstoreError(err: unknown): err is GatewayError {
  return err instanceof GatewayError && err.code.startsWith('ERR_BACKSTORE_');
}
