// Property tests: bad input never crashes (only GatewayError escapes), and the
// parsers agree with simple reference models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIni } from '../../../src/config/settings.js';
import { normalizeControls, effectiveControls } from '../../../src/config/controls.js';
import { migrateConfig } from '../../../src/config/migrate.js';
import { normalizeIqn, parseSize, validChapCredentials } from '../../../src/config/validate.js';
import { GatewayError } from '../../../src/util/errors.js';

function onlyGatewayErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    assert.match(err.code, /^ERR_CONFIG_/);
    assert.ok(err.message.length > 0);
  }
}

const iniLine = fc.oneof(
  fc.constantFrom('[config]', '[target]', '[device_status]', '[DEFAULT]', '', '# c', '; c', '  cont'),
  fc.tuple(fc.constantFrom('api_port', 'pool', 'x', 'API_SECURE', 'base'), fc.constantFrom('=', ':', ' = '), fc.string({ maxLength: 12 })).map(([k, d, v]) => `${k}${d}${v}`),
  fc.string({ maxLength: 20 }),
);

test('parseIni: arbitrary text parses or fails with ERR_CONFIG_INVALID, never anything else', () => {
  fc.assert(
    fc.property(fc.array(iniLine, { maxLength: 30 }), (lines) => {
      onlyGatewayErrors(() => parseIni(lines.join('\n')));
    }),
    { numRuns: 500 },
  );
});

test('parseIni: key = value pairs round-trip (keys lowercased, values trimmed)', () => {
  const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
  const value = fc.stringMatching(/^[A-Za-z0-9_./@-]{0,12}$/);
  fc.assert(
    fc.property(fc.dictionary(key, value, { maxKeys: 10 }), (kv) => {
      const text = ['[config]', ...Object.entries(kv).map(([k, v]) => `${k.toUpperCase()} =  ${v}  `)].join('\n');
      const got = parseIni(text).get('config');
      assert.ok(got);
      assert.deepEqual(Object.fromEntries(got), Object.fromEntries(Object.entries(kv)));
    }),
    { numRuns: 200 },
  );
});

test('normalizeControls: any raw object is accepted or refused with ERR_CONFIG_INVALID; results are in range', () => {
  const names = fc.constantFrom('cmdsn_depth', 'immediate_data', 'first_burst_length', 'nopin_timeout', 'bogus');
  fc.assert(
    fc.property(fc.dictionary(names, fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.double())), (raw) => {
      onlyGatewayErrors(() => {
        const out = normalizeControls('target', raw);
        const eff = effectiveControls('target', out);
        if (typeof eff.cmdsn_depth === 'number') assert.ok(eff.cmdsn_depth >= 1 && eff.cmdsn_depth <= 512);
        assert.equal(typeof eff.immediate_data, 'boolean');
      });
    }),
    { numRuns: 500 },
  );
});

test('migrateConfig: arbitrary JSON is migrated or refused with ERR_CONFIG_*, never crashes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.record({ version: fc.constantFrom(10, 11), targets: fc.jsonValue(), disks: fc.jsonValue() })), (raw) => {
      onlyGatewayErrors(() => migrateConfig(structuredClone(raw)));
    }),
    { numRuns: 500 },
  );
});

test('validChapCredentials and normalizeIqn never throw anything unexpected', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (u, p, mu, mp) => {
      const r = validChapCredentials({ username: u, password: p, mutual_username: mu, mutual_password: mp });
      assert.ok(r === null || typeof r === 'string');
      onlyGatewayErrors(() => normalizeIqn(u));
    }),
    { numRuns: 500 },
  );
});

test('parseSize: <n><unit> is n * 1024^k for every safe n', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.constantFrom(['M', 2], ['G', 3], ['T', 4], ['m', 2], ['g', 3], ['t', 4]), (n, [u, k]) => {
      const want = n * 1024 ** (k as number);
      if (Number.isSafeInteger(want)) assert.equal(parseSize(`${n}${String(u)}`), want);
      else assert.throws(() => parseSize(`${n}${String(u)}`), { code: 'ERR_CONFIG_INVALID_SIZE' });
    }),
    { numRuns: 300 },
  );
});
