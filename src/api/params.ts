/**
 * Request parameters the way rbd-target-api reads them: PUT and DELETE take
 * form fields (`request.form`), GET takes the query string (`request.args`).
 * We also accept JSON bodies and fall back to the query string for PUT/DELETE,
 * so curl users and JSON clients both work. Values are always strings here:
 * JSON numbers/booleans are stringified, JSON objects (controls) are
 * re-serialised, so every route validates one representation.
 */
import type { FastifyRequest } from 'fastify';
import { badRequest } from './errors.js';

function scalar(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return scalar(v[0]); // repeated form key: Flask's form.get() returns the first
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return undefined;
}

function lookup(container: unknown, name: string): string | undefined {
  if (typeof container !== 'object' || container === null) return undefined;
  if (!Object.prototype.hasOwnProperty.call(container, name)) return undefined;
  return scalar((container as Record<string, unknown>)[name]);
}

/** A body (form or JSON) field, else the query-string field of the same name. */
export function field(req: FastifyRequest, name: string): string | undefined {
  return lookup(req.body, name) ?? lookup(req.query, name);
}

/** A path parameter (always present for the routes that declare it). */
export function pathParam(req: FastifyRequest, name: string): string {
  const v = lookup(req.params, name);
  return v ?? '';
}

/**
 * Booleans are the strings true/false (case-insensitive, as upstream's
 * `.lower() == 'true'`); yes/no and 1/0 are accepted too. Anything else is a 400
 * naming the field.
 */
export function boolField(req: FastifyRequest, name: string, dflt: boolean): boolean {
  const v = field(req, name);
  if (v === undefined || v === '') return dflt;
  const l = v.trim().toLowerCase();
  if (l === 'true' || l === 'yes' || l === '1') return true;
  if (l === 'false' || l === 'no' || l === '0') return false;
  throw badRequest(`Invalid '${name}' value ${v} (expected true or false)`);
}

function raw(container: unknown, name: string): unknown {
  if (typeof container !== 'object' || container === null) return undefined;
  if (!Object.prototype.hasOwnProperty.call(container, name)) return undefined;
  return (container as Record<string, unknown>)[name];
}

/**
 * A comma-separated list field: trimmed, empty items dropped. A JSON array, or
 * the same form key repeated, is accepted too (each item may itself be a comma list).
 */
export function listField(req: FastifyRequest, name: string): string[] {
  const v = raw(req.body, name) ?? raw(req.query, name);
  const items = Array.isArray(v) ? v.map(scalar) : [scalar(v)];
  return items
    .flatMap((s) => (s === undefined ? [] : s.split(',')))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * `controls` is a JSON object inside a form field (Dashboard, gwcli). Returns
 * undefined when absent; a 400 when it is not a JSON object.
 */
export function controlsField(req: FastifyRequest): Record<string, unknown> | undefined {
  const v = field(req, 'controls');
  if (v === undefined) return undefined;
  if (v.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (err) {
    throw badRequest(`Unexpected or invalid controls - ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('Unexpected or invalid controls - controls must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
