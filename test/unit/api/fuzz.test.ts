/**
 * Bad input never crashes and never gets a 500: random field values, random
 * path segments and random bodies against the mutating routes (fast-check,
 * bounded run count so the suite stays short).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CLIENT, PASSWORD, TARGET, USER, basic, makeHarness, seedFlow } from './helpers.js';

const ROUTES: Array<['PUT' | 'DELETE', string]> = [
  ['PUT', `/api/target/${TARGET}`],
  ['DELETE', `/api/target/${TARGET}`],
  ['PUT', `/api/gateway/${TARGET}/gwx.example.com`],
  ['DELETE', `/api/gateway/${TARGET}/gw1.example.com`],
  ['PUT', '/api/disk/rbd/fz'],
  ['DELETE', '/api/disk/rbd/disk_1'],
  ['PUT', `/api/targetlun/${TARGET}`],
  ['DELETE', `/api/targetlun/${TARGET}`],
  ['PUT', `/api/client/${TARGET}/iqn.1994-05.com.redhat:fz`],
  ['PUT', `/api/clientauth/${TARGET}/${CLIENT}`],
  ['PUT', `/api/clientlun/${TARGET}/${CLIENT}`],
  ['DELETE', `/api/clientlun/${TARGET}/${CLIENT}`],
  ['PUT', `/api/hostgroup/${TARGET}/g1`],
  ['DELETE', `/api/hostgroup/${TARGET}/g1`],
  ['PUT', '/api/discoveryauth'],
  ['PUT', `/api/targetauth/${TARGET}`],
  ['PUT', '/api/disksnap/rbd/disk_1/s1'],
];
const FIELDS = ['mode', 'controls', 'size', 'count', 'wwn', 'backstore', 'create_image', 'ip_address', 'skipchecks', 'force', 'disk', 'lun_id', 'username', 'password', 'mutual_username', 'mutual_password', 'action', 'members', 'disks', 'preserve_image'];

test('random form fields on every mutating route: always a JSON {message}, never a 5xx', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h);
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('', 'true', 'false', 'create', 'resize', 'reconfigure', 'rollback', 'add', 'remove', '{}', '{"cmdsn_depth":"x"}', '[1]', 'null', '1G', '-1', '99999999999999999999T', 'rbd/disk_1', 'rbd/', '/x', '192.168.122.10', '::1', 'enable_acl', 'disable_acl'),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }), fc.boolean(), async ([method, url], form, asJson) => {
        const r = await h.call(method, url, asJson ? { json: form } : { form });
        assert.ok(r.statusCode < 500, `${method} ${url} ${JSON.stringify(form)} → ${r.statusCode} ${r.body}`);
        assert.equal(typeof r.json<{ message: unknown }>().message, 'string');
      }),
      { numRuns: 300 },
    );
  } finally {
    await h.close();
  }
});

test('random path segments and raw bodies: never a 5xx', async () => {
  const h = makeHarness();
  try {
    await seedFlow(h, { withClient: false });
    const seg = fc.string({ minLength: 1, maxLength: 30 }).map((s) => encodeURIComponent(s));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('target', 'client', 'clientlun', 'disk', 'gateway', 'hostgroup', 'disksnap', 'targetlun', 'clientauth', 'targetauth'),
        fc.array(seg, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('PUT', 'DELETE', 'GET'),
        fc.string({ maxLength: 60 }),
        fc.constantFrom('application/x-www-form-urlencoded', 'application/json'),
        async (route, segs, method, body, ctype) => {
          const r = await h.app.inject({
            method: method as 'PUT' | 'DELETE' | 'GET',
            url: `/api/${route}/${segs.join('/')}`,
            headers: { authorization: basic(USER, PASSWORD), 'content-type': ctype },
            ...(method !== 'GET' ? { payload: body } : {}),
          });
          assert.ok(r.statusCode < 500, `${method} /api/${route}/${segs.join('/')} ${JSON.stringify(body)} → ${r.statusCode} ${r.body}`);
        },
      ),
      { numRuns: 300 },
    );
  } finally {
    await h.close();
  }
});

test('a 223-byte IQN (the RFC 7143 maximum) is routed and accepted', async () => {
  const h = makeHarness();
  try {
    const iqn = `iqn.2003-01.com.example:${'a'.repeat(223 - 'iqn.2003-01.com.example:'.length)}`;
    assert.equal(iqn.length, 223);
    const r = await h.call('PUT', `/api/target/${iqn}`);
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(h.store.current().targets[iqn]);
  } finally {
    await h.close();
  }
});
