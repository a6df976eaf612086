/**
 * CHAP and ACL mode: /api/discoveryauth, /api/targetauth/<iqn> (client CHAP
 * lives in clients.ts but shares the helpers here).
 * Rules: gwcli/utils.py valid_credentials (config/validate.ts), rbd-target-api.py
 * targetauth(): target (TPG) CHAP and per-client ACLs are mutually exclusive.
 *
 * Passwords are stored in clear with *_encryption_enabled=false. Upstream
 * encrypts them with RSA-OAEP when both priv_key and pub_key exist in
 * ceph_config_dir; writing encrypted passwords is not supported yet (our
 * gateway reads clear text; a warning is logged once when the keys exist).
 * Reading upstream-encrypted ones works: GET /api/config?decrypt_passwords=true.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ChapAuth } from '../../config/schema.js';
import { validChapCredentials } from '../../config/validate.js';
import type { ApiContext } from '../context.js';
import { now, targetOr404 } from '../doc.js';
import { badRequest } from '../errors.js';
import { field } from '../params.js';
import { iqnParam } from './common.js';

export interface ChapRequest {
  username: string;
  password: string;
  mutual_username: string;
  mutual_password: string;
}

/** The CHAP 4-tuple of a request, validated (400 with upstream's message). */
export function chapFromRequest(req: FastifyRequest): ChapRequest {
  const chap: ChapRequest = {
    username: field(req, 'username') ?? '',
    password: field(req, 'password') ?? '',
    mutual_username: field(req, 'mutual_username') ?? '',
    mutual_password: field(req, 'mutual_password') ?? '',
  };
  const error = validChapCredentials(chap);
  if (error !== null) throw badRequest(error);
  return chap;
}

const warned = new WeakSet<object>();

/** The ChapAuth to store (clear text; see the file comment). */
export function storeChap(ctx: ApiContext, chap: ChapRequest): ChapAuth {
  const { settings, logger } = ctx.deps;
  if (!warned.has(ctx)) {
    const p = (f: string): string => (isAbsolute(f) ? f : join(settings.ceph_config_dir, f));
    if (settings.priv_key && settings.pub_key && existsSync(p(settings.priv_key)) && existsSync(p(settings.pub_key))) {
      warned.add(ctx);
      logger.warn('CHAP password encryption keys exist but encrypted CHAP passwords are not supported yet: passwords are stored in clear');
    }
  }
  return {
    username: chap.username,
    password: chap.password,
    password_encryption_enabled: false,
    mutual_username: chap.mutual_username,
    mutual_password: chap.mutual_password,
    mutual_password_encryption_enabled: false,
  };
}

export function authRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.put(
    '/api/discoveryauth',
    { config: { doc: 'Set discovery (SendTargets) CHAP credentials\nusername, password, mutual_username, mutual_password; all empty = no CHAP' } },
    async (req) => {
      const chap = chapFromRequest(req);
      await ctx.mutate((doc) => {
        doc.discovery_auth = storeChap(ctx, chap);
        return true;
      });
      return { message: 'discovery auth successful' };
    },
  );

  app.put(
    '/api/targetauth/:target_iqn',
    {
      config: {
        doc:
          'Set target-level CHAP, or switch ACL mode (action=enable_acl|disable_acl)\n' +
          'Target CHAP and ACLs exclude each other; disable_acl is refused while the target has clients',
      },
    },
    async (req) => {
      const iqn = iqnParam(req, 'target_iqn');
      const actionField = field(req, 'action');
      const action = actionField === undefined || actionField === '' ? undefined : actionField;
      if (action !== undefined && action !== 'disable_acl' && action !== 'enable_acl') {
        throw badRequest(`Invalid auth ${action}`);
      }
      const username = field(req, 'username') ?? '';
      const password = field(req, 'password') ?? '';
      await ctx.mutate((doc) => {
        const t = targetOr404(doc, iqn);
        if (action === 'disable_acl' && Object.keys(t.clients).length > 0) {
          throw badRequest('Cannot disable ACL authentication because target has clients');
        }
        if (action === 'enable_acl' && t.auth.username && t.auth.password) {
          throw badRequest('Cannot enable ACL authentication because target CHAP authentication is enabled');
        }
        if (username && password && t.acl_enabled) {
          throw badRequest('Cannot enable target CHAP authentication because ACL authentication is enabled');
        }
        const chap = chapFromRequest(req);
        if (action !== undefined) {
          // _targetauth: the ACL actions change only acl_enabled.
          const enabled = action === 'enable_acl';
          if (t.acl_enabled === enabled) return false;
          t.acl_enabled = enabled;
        } else {
          t.auth = storeChap(ctx, chap);
        }
        t.updated = now();
        return true;
      });
      return { message: `target auth ${action ?? 'None'} - successful` };
    },
  );
}
