import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, authThrottleStats, type AuthAuditEvent, type AuthThrottleOptions } from '../../../src/util/auth-throttle.js';

/** A throttle on a hand-driven clock. */
function make(opts: Partial<AuthThrottleOptions> = {}, audit?: (e: AuthAuditEvent) => void): { g: AuthThrottle; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const g = new AuthThrottle('unit', { threshold: 3, sourceThreshold: 4, baseDelayMs: 100, maxDelayMs: 1000, maxHoldMs: 500, now: () => clock.t, ...opts }, audit);
  return { g, clock };
}

test('back-off starts at the threshold, doubles and stops at the cap', () => {
  const { g, clock } = make();
  const waits: number[] = [];
  for (let i = 0; i < 10; i++) {
    const a = g.admit('10.0.0.1', 'iqn.a');
    if (a.kind === 'now') waits.push(0);
    else if (a.kind === 'hold') {
      waits.push(a.retryAfterMs);
      clock.t += a.retryAfterMs; // the caller waits out the back-off
      a.release();
    } else assert.fail('a sequential client is never refused at once');
    g.failure('10.0.0.1', 'iqn.a', 'chap');
  }
  assert.deepEqual(waits, [0, 0, 0, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(g.stats.failures, 10);
  assert.equal(g.stats.failuresByReason.chap, 10);
  assert.equal(authThrottleStats.unit, g.stats);
});

test('a back-off longer than maxHoldMs holds maxHoldMs, then refuses without a check', () => {
  const { g } = make();
  for (let i = 0; i < 7; i++) g.failure('10.0.0.1', 'iqn.a', 'chap'); // delay 800 > maxHold 500
  const a = g.admit('10.0.0.1', 'iqn.a');
  assert.equal(a.kind, 'hold');
  if (a.kind !== 'hold') return;
  assert.equal(a.ms, 500);
  assert.equal(a.check, false);
  const checked = g.stats.checked;
  a.release();
  assert.equal(g.stats.checked, checked, 'an unchecked refusal is not a check');
  assert.equal(g.stats.refused, 1);
});

test('one hold per key: parallel attempts are refused at once, the slot frees on release', () => {
  const { g } = make();
  for (let i = 0; i < 3; i++) g.failure('10.0.0.1', 'iqn.a', 'chap');
  const first = g.admit('10.0.0.1', 'iqn.a');
  assert.equal(first.kind, 'hold');
  for (let i = 0; i < 20; i++) assert.equal(g.admit('10.0.0.1', 'iqn.a').kind, 'refuse');
  assert.equal(g.stats.heldNow, 1);
  if (first.kind === 'hold') first.release();
  assert.equal(g.stats.heldNow, 0);
  assert.equal(g.admit('10.0.0.1', 'iqn.a').kind, 'hold');
});

test('other clients are not slowed: another name on the same address, another address', () => {
  const { g } = make();
  for (let i = 0; i < 50; i++) g.failure('10.0.0.1', 'iqn.attacker', 'chap');
  assert.equal(g.admit('10.0.0.1', 'iqn.attacker').kind !== 'now', true);
  assert.equal(g.admit('10.0.0.1', 'iqn.legit').kind, 'now');
  assert.equal(g.admit('10.0.0.2', 'iqn.attacker').kind, 'now');
});

test('rotating names from one address: its never-seen names are slowed, names that logged in before are not', () => {
  const { g } = make();
  g.success('10.0.0.1', 'iqn.known');
  for (let i = 0; i < 6; i++) g.failure('10.0.0.1', `iqn.rotated-${i}`, 'acl');
  assert.notEqual(g.admit('10.0.0.1', 'iqn.fresh').kind, 'now');
  assert.equal(g.admit('10.0.0.1', 'iqn.known').kind, 'now');
  assert.equal(g.admit('10.0.0.9', 'iqn.fresh').kind, 'now');
});

test('success clears the pair; failures are forgotten after forgetMs; state is capped', () => {
  const { g, clock } = make({ forgetMs: 10_000, maxKeys: 50 });
  for (let i = 0; i < 5; i++) g.failure('10.0.0.1', 'iqn.a', 'chap');
  clock.t += 2000;
  g.success('10.0.0.1', 'iqn.a');
  g.failure('10.0.0.1', 'iqn.a', 'chap');
  assert.equal(g.admit('10.0.0.1', 'iqn.a').kind, 'now', 'one failure after a success is under the threshold');
  for (let i = 0; i < 5; i++) g.failure('10.0.0.3', 'iqn.b', 'chap');
  clock.t += 10_001 + 1000;
  assert.equal(g.admit('10.0.0.3', 'iqn.b').kind, 'now');
  for (let i = 0; i < 500; i++) g.failure(`10.1.${i >> 8}.${i & 255}`, `iqn.${i}`, 'chap');
  assert.ok(g.size <= 100, `size ${g.size}`);
  assert.ok(g.stats.evicted > 0);
});

test('audit events: under the budget, the rest counted and reported with the next one', () => {
  const events: AuthAuditEvent[] = [];
  const { g, clock } = make({ auditBudget: 3, auditWindowMs: 1000 }, (e) => events.push(e));
  for (let i = 0; i < 10; i++) g.failure('10.0.0.1', 'iqn.a', 'chap', 'wrong CHAP response');
  assert.equal(events.length, 3);
  assert.equal(g.stats.auditSuppressed, 7);
  clock.t += 1000;
  g.failure('10.0.0.1', 'iqn.a', 'chap');
  assert.equal(events.length, 4);
  assert.equal(events[3]?.suppressed, 7);
  assert.deepEqual(
    { kind: events[0]?.kind, source: events[0]?.source, identity: events[0]?.identity, reason: events[0]?.reason, detail: events[0]?.detail },
    { kind: 'failure', source: '10.0.0.1', identity: 'iqn.a', reason: 'chap', detail: 'wrong CHAP response' },
  );
});

test('threshold 0 turns the back-off off', () => {
  const { g } = make({ threshold: 0 });
  for (let i = 0; i < 100; i++) g.failure('10.0.0.1', 'iqn.a', 'chap');
  assert.equal(g.admit('10.0.0.1', 'iqn.a').kind, 'now');
});
