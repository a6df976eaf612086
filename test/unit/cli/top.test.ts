// gwcli top without a network: the exposition parser, rates and percentiles from two scrapes,
// the owner marker, sort and filter, the gateways found in a config document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeView, endpointsFromConfig, parseTopArgs, renderView, type GatewayScrape, type TopOptions } from '../../../src/cli/top.js';
import { histogramQuantile, parsePromText } from '../../../src/util/prom-text.js';

test('parsePromText: labels with escapes, NaN/Inf spellings, TYPE lines; bad lines throw', () => {
  const s = parsePromText('# HELP x y\n# TYPE x counter\nx{a="q\\"uote",b="back\\\\slash\\nnl"} 3\ny Nan\nz +Inf\n');
  assert.equal(s.types.get('x'), 'counter');
  assert.deepEqual(s.samples[0], { name: 'x', labels: { a: 'q"uote', b: 'back\\slash\nnl' }, value: 3 });
  assert.ok(Number.isNaN(s.samples[1]?.value));
  assert.equal(s.samples[2]?.value, Infinity);
  assert.throws(() => parsePromText('x{a="1" 2\n'));
  assert.throws(() => parsePromText('x abc\n'));
});

test('histogramQuantile interpolates inside the bucket', () => {
  const b = [{ le: 0.001, count: 50 }, { le: 0.002, count: 100 }, { le: Infinity, count: 100 }];
  assert.equal(histogramQuantile(0.5, b), 0.001);
  assert.equal(histogramQuantile(0.75, b), 0.0015);
  assert.equal(histogramQuantile(0.5, [{ le: Infinity, count: 0 }]), undefined);
});

function scrape(gw: string, at: number, cmds: number, rbytes: number, ao: number, le1ms: number): GatewayScrape {
  const text = [
    `ceph_iscsi_lun_size_bytes{gw_name="${gw}",lun_name="rbd/a"} 1048576`,
    `ceph_iscsi_lun_commands_total{gw_name="${gw}",lun_name="rbd/a",op="read"} ${cmds}`,
    `ceph_iscsi_lun_read_bytes_total{gw_name="${gw}",lun_name="rbd/a"} ${rbytes}`,
    `ceph_iscsi_lun_write_bytes_total{gw_name="${gw}",lun_name="rbd/a"} 0`,
    `ceph_iscsi_lun_active_optimized{gw_name="${gw}",lun_name="rbd/a"} ${ao}`,
    `ceph_iscsi_lun_latency_seconds_bucket{gw_name="${gw}",lun_name="rbd/a",op="read",le="0.001"} ${le1ms}`,
    `ceph_iscsi_lun_latency_seconds_bucket{gw_name="${gw}",lun_name="rbd/a",op="read",le="+Inf"} ${cmds}`,
    `ceph_iscsi_client_login{gw_name="${gw}",client_iqn="iqn.x:c1"} 1`,
    `ceph_iscsi_client_lun{gw_name="${gw}",client_iqn="iqn.x:c1",lun_name="rbd/a"} 0`,
  ].join('\n');
  return { gateway: { name: gw, url: '' }, at, scrape: parsePromText(text) };
}

test('computeView: rates over the interval summed over gateways, owner from the AO gateway, p50 from bucket deltas', () => {
  const prev = new Map([['gw-a', scrape('gw-a', 1000, 100, 4096 * 100, 1, 100)], ['gw-b', scrape('gw-b', 1000, 0, 0, 0, 0)]]);
  const down: GatewayScrape = { gateway: { name: 'gw-c', url: '' }, at: 2000, scrape: undefined, error: 'ECONNREFUSED' };
  const v = computeView(prev, [scrape('gw-a', 3000, 2100, 4096 * 2100, 1, 2100), scrape('gw-b', 3000, 0, 0, 0, 0), down]);
  const lun = v.luns[0];
  assert.equal(lun?.iops, 1000);
  assert.equal(lun?.readBps, 4096 * 1000);
  assert.equal(lun?.owner, 'gw-a');
  assert.ok(lun?.p50 !== undefined && lun.p50 <= 0.001);
  assert.deepEqual(lun?.clients, ['iqn.x:c1']);
  assert.deepEqual(v.gateways.map((g) => [g.name, g.up]), [['gw-a', true], ['gw-b', true], ['gw-c', false]]);
  const o: TopOptions = { intervalMs: 1000, sort: 'iops', reverse: false, busy: false, filter: '' };
  const screen = renderView(v, o, 200, new Date(0)).join('\n');
  assert.match(screen, /gateways 2\/3 up/);
  assert.match(screen, /^rbd\/a\s+\*gw-a\s+1M\s+1000\s/m);
  assert.match(screen, /^gw-c\s+DOWN .*ECONNREFUSED/m);
  assert.match(renderView(v, { ...o, filter: 'nomatch' }, 200, new Date(0)).join('\n'), /no LUN to show/);
});

test('endpointsFromConfig: first portal IP of each gateway, IPv6 bracketed; parseTopArgs', () => {
  const cfg = { targets: { t1: { portals: { 'gw-b': { portal_ip_addresses: ['fd00::2'] }, 'gw-a': { portal_ip_addresses: ['10.0.0.1', '10.0.1.1'] } } } } };
  assert.deepEqual(endpointsFromConfig(cfg, 9287), [
    { name: 'gw-a', url: 'http://10.0.0.1:9287/metrics' },
    { name: 'gw-b', url: 'http://[fd00::2]:9287/metrics' },
  ]);
  const a = parseTopArgs(['-i', '2', '-s', 'p99', '-r', '-b', '-f', 'rbd', '-n', '3']);
  assert.deepEqual(a.o, { intervalMs: 2000, sort: 'p99', reverse: true, busy: true, filter: 'rbd' });
  assert.equal(a.iterations, 3);
  assert.throws(() => parseTopArgs(['-s', 'bogus']));
  assert.throws(() => parseTopArgs(['--nope']));
});
