/** Helpers shared by the route plugins. */
import type { FastifyRequest } from 'fastify';
import { normalizeIqn } from '../../config/validate.js';
import { badRequest } from '../errors.js';
import { pathParam } from '../params.js';

/**
 * An IQN path parameter, normalised as rtslib normalize_wwn(['iqn']) does.
 * Upstream answers 500 "Invalid iqn <x> - <reason>"; bad input is a 400 here.
 */
export function iqnParam(req: FastifyRequest, name: string): string {
  const raw = pathParam(req, name);
  try {
    return normalizeIqn(raw);
  } catch (err) {
    throw badRequest(`Invalid iqn ${raw} - ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A required field; 400 naming it when absent or empty. */
export function required(value: string | undefined, name: string): string {
  if (value === undefined || value.trim() === '') throw badRequest(`${name} is required`);
  return value.trim();
}

/** `pool/image` from a `disk` field: 400 when it is not of that form. */
export function diskId(value: string | undefined): string {
  const v = required(value, 'disk');
  const slash = v.indexOf('/');
  if (slash <= 0 || slash === v.length - 1 || v.indexOf('/', slash + 1) >= 0) {
    throw badRequest(`Invalid disk ${v} - expected <pool>/<image>`);
  }
  return v;
}

export const DEFAULT_BACKSTORE = 'user:rbd';
/** The only backstore value upstream knows (lun.py LUN.BACKSTORES); the store behind it is ours. */
export const BACKSTORES: readonly string[] = [DEFAULT_BACKSTORE];
