// The web console's server side (issue 12): /ui/ behind the API's access checks, the "not built"
// answer, and GET /api/_stats from the gateway's metrics snapshot.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LunView, MetricsSnapshot } from '../../../src/gateway/status.js';
import type { StatsReply } from '../../../src/api/routes/stats.js';
import { makeHarness, session, TARGET, CLIENT, type Harness } from './helpers.js';

const io = (): LunView['io'] => ({
  commands: Float64Array.from([10, 20, 3]),
  readBytes: 40_960,
  writeBytes: 81_920,
  inflight: 2,
  backstoreErrors: 0,
  buckets: new Float64Array(51),
  latencySum: Float64Array.from([0.01, 0.04, 0.001]),
  clients: () => new Map(),
});

function snapshot(gatewayName: string): MetricsSnapshot {
  return {
    gatewayName,
    targets: [TARGET],
    luns: [{ name: 'rbd/disk_1', target: TARGET, lunId: 0, sizeBytes: 1 << 30, owner: gatewayName, ownerIp: '192.168.122.10', paths: [{ tpg: 1, gateway: gatewayName, state: 'active-optimized' }], io: io() }],
    clients: [],
    sessions: [{ ...session(TARGET, CLIENT), authMethod: 'CHAP' }],
    connections: 1,
    connectionsRefused: 0,
    iscsi: { loginSuccesses: 5, loginFailures: new Map([['chap', 2], ['acl', 1]]), rejects: new Float64Array(16), headerDigestErrors: 0, dataDigestErrors: 0, framingErrors: 0, tmf: new Float64Array(16) },
    latencyBucketsSeconds: [],
    ioClasses: ['read', 'write', 'other'],
    rejectNames: new Map(),
    tmfNames: new Map(),
    loginFailureReasons: [],
    lock: { acquired: 0, released: 0, lost: 0 },
    config: { epoch: 1, reconciles: 1, lastReconcileSeconds: 0, reconcileSecondsSum: 0, reconcileFailures: 0 },
    inMaintenance: false,
  };
}

describe('web console routes', () => {
  let dir: string;
  let h: Harness;
  before(async () => {
    dir = join(tmpdir(), `igw-console-${process.pid}`);
    await mkdir(join(dir, 'assets'), { recursive: true });
    await writeFile(join(dir, 'index.html'), '<!doctype html><div id="app"></div>');
    await writeFile(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
    h = makeHarness({ deps: { consoleDir: dir } });
  });
  after(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('/ui/ and its assets need the API credentials; a 401 carries the Basic challenge', async () => {
    const anon = await h.call('GET', '/ui/', { auth: null });
    assert.equal(anon.statusCode, 401);
    assert.match(String(anon.headers['www-authenticate']), /^Basic realm="ceph-iscsi-gateway"/);
    assert.equal((await h.call('GET', '/ui/assets/index-abc.js', { auth: null })).statusCode, 401);
    const page = await h.call('GET', '/ui/');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /id="app"/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal((await h.call('GET', '/ui')).statusCode, 200);
    const js = await h.call('GET', '/ui/assets/index-abc.js');
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await h.call('GET', '/ui/../package.json')).statusCode, 404);
  });

  test('/ui/ is refused outside the IP allow-list, as the API is', async () => {
    const r = await h.call('GET', '/ui/', { remoteAddress: '10.1.2.3' });
    assert.equal(r.statusCode, 403);
    assert.match(r.body, /API access not available to 10\.1\.2\.3/);
  });

  test('a console that was not built: a 404 that says how to build it', async () => {
    const bare = makeHarness({ deps: { consoleDir: join(dir, 'missing') } });
    try {
      const r = await bare.call('GET', '/ui/');
      assert.equal(r.statusCode, 404);
      assert.match(r.body, /not built/);
    } finally {
      await bare.close();
    }
  });

  test('GET /api/_stats: per-LUN counters and sessions from the snapshot; empty without one', async () => {
    const empty = await h.call('GET', '/api/_stats');
    assert.equal(empty.statusCode, 200);
    assert.deepEqual(empty.json<StatsReply>().luns, []);
    h.status.metricsSnapshot = () => snapshot(h.status.gatewayName);
    const r = await h.call('GET', '/api/_stats');
    assert.equal(r.statusCode, 200);
    const s = r.json<StatsReply>();
    assert.equal(s.gateway, h.status.gatewayName);
    assert.equal(s.luns.length, 1);
    assert.deepEqual(s.luns[0]?.commands, { read: 10, write: 20, other: 3 });
    assert.deepEqual(s.luns[0]?.latencySeconds, { read: 0.01, write: 0.04, other: 0.001 });
    assert.equal(s.luns[0]?.writeBytes, 81_920);
    assert.equal(s.sessions[0]?.initiator, CLIENT);
    assert.equal(s.sessions[0]?.auth, 'CHAP');
    assert.equal(s.loginFailures, 3);
    assert.equal((await h.call('GET', '/api/_stats', { auth: null })).statusCode, 401);
    // Internal: not in the listing of GET /api.
    assert.doesNotMatch((await h.call('GET', '/api')).body, /_stats/);
  });

  test('no CORS: a page of another origin cannot have the browser send the console\'s credentials with a change', async () => {
    // Changes are PUT/DELETE only, which a browser sends cross-origin only after a preflight that must be allowed.
    const pre = await h.app.inject({ method: 'OPTIONS', url: `/api/target/${TARGET}`, headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' }, remoteAddress: '127.0.0.1' });
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    assert.equal(pre.headers['access-control-allow-methods'], undefined);
    const post = await h.call('PUT', `/api/target/${TARGET}`, { form: {} });
    assert.equal(post.headers['access-control-allow-origin'], undefined);
    for (const r of h.app.printRoutes({ commonPrefix: false }).split('\n')) assert.doesNotMatch(r, /\bPOST\b/, `a POST route (a plain HTML form could send it cross-site): ${r}`);
  });
});

