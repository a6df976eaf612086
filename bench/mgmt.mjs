#!/usr/bin/env node
// Management latency at scale, for bench/mgmt.sh (node only; needs `tsc` for the test initiator):
//   node bench/mgmt.mjs ops API_PORT "SIZES" EXTRA IMAGE_SIZE
//       target + gateway bench-gw + one ACL client; grows the target to each size (disks created
//       10 per request, each mapped to the target), then times EXTRA more of each operation at
//       that size and prints median and p90 per operation. A client holds at most 256 LUNs
//       (upstream's LUN id range), so only the timed client maps go to it; at the end the
//       client is removed and the target's ACL disabled, so that any initiator sees every LUN.
//   node bench/mgmt.mjs serve CFG ISCSI_PORT LUNS PIDFILE LOG
//       spawns the daemon (DIST/src/main.js --config CFG, its own session, output to LOG, PID in
//       PIDFILE; left running) and prints the milliseconds from spawn until the API answers and
//       until an iSCSI login + REPORT LUNS lists LUNS LUNs.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { median, request } from './lib.mjs';

const IQN = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
const CLIENT = 'iqn.1994-05.com.redhat:bench-client';
const DIST = `${process.env.DIST ?? new URL('../dist', import.meta.url).pathname}/`;

function p90(values) {
  const v = [...values].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.ceil(v.length * 0.9) - 1)];
}

/**
 * CPU time of the daemon's main thread in ms (/proc/PID/task/PID/schedstat, ns), or undefined
 * (no GW_PID, not Linux). Steadier than latency on a shared machine: another process's load
 * delays the operations but does not add to their CPU.
 */
function daemonCpuMs() {
  const pid = process.env.GW_PID;
  if (pid === undefined || pid === '') return undefined;
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/** PUT/DELETE that must succeed; returns its latency in ms. */
async function must(port, method, path, form) {
  const t0 = performance.now();
  const r = await request(port, method, path, form);
  const ms = performance.now() - t0;
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} -> ${r.status} ${r.text.slice(0, 300)}`);
  return ms;
}

async function ops(port, sizes, extra, imageSize) {
  await must(port, 'PUT', `/api/target/${IQN}`, {});
  await must(port, 'PUT', `/api/gateway/${IQN}/bench-gw`, { ip_address: '127.0.0.1', skipchecks: 'true' });
  await must(port, 'PUT', `/api/client/${IQN}/${CLIENT}`, {});
  const createDisk = (image, more = {}) => must(port, 'PUT', `/api/disk/rbd/${image}`, { mode: 'create', size: imageSize, create_image: 'true', ...more });
  const mapLun = (image) => must(port, 'PUT', `/api/targetlun/${IQN}`, { disk: `rbd/${image}` });
  const mapClient = (image) => must(port, 'PUT', `/api/clientlun/${IQN}/${CLIENT}`, { disk: `rbd/${image}` });
  let luns = 0;
  let batch = 0;
  const rows = [];
  const clientLuns = [];
  for (const size of sizes) {
    const t0 = performance.now();
    while (luns < size) {
      // count=N creates <prefix>1..<prefix>N in one request (upstream's "count", at most 10).
      const n = Math.min(10, size - luns);
      const prefix = `g${++batch}_`;
      await createDisk(prefix, { count: String(n) });
      for (let i = 1; i <= n; i++) await mapLun(`${prefix}${i}`);
      luns += n;
    }
    console.log(`# ${luns} LUNs mapped to the target (growth took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const names = Array.from({ length: extra }, (_, i) => `m${size}_${i}`);
    const t = { create: [], register: [], lunMap: [], clientMap: [] };
    const cpu = {};
    const timed = async (op, fn) => {
      const c0 = daemonCpuMs();
      for (const name of names) t[op].push(await fn(name));
      const c1 = daemonCpuMs();
      if (c0 !== undefined && c1 !== undefined) cpu[op] = (c1 - c0) / names.length;
    };
    await timed('create', (name) => createDisk(name));
    await timed('lunMap', (name) => mapLun(name));
    await timed('clientMap', (name) => mapClient(name));
    clientLuns.push(...names);
    // Registering an existing image (create_image=false): the config work alone. The images
    // come from disks created and removed with preserve_image=true (untimed).
    for (const name of names) {
      await createDisk(`r${name}`);
      await must(port, 'DELETE', `/api/disk/rbd/r${name}`, { preserve_image: 'true' });
    }
    await timed('register', (name) => createDisk(`r${name}`, { create_image: 'false' }));
    luns += extra;
    const row = { size, cpu, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { median: median(v), p90: p90(v) }])) };
    rows.push(row);
    const f = (x) => `${x.median.toFixed(1)} (p90 ${x.p90.toFixed(1)})`;
    console.log(`size ${size}: disk create ${f(row.create)} | disk register ${f(row.register)} | LUN map ${f(row.lunMap)} | client map ${f(row.clientMap)} ms`);
  }
  for (const name of clientLuns) await must(port, 'DELETE', `/api/clientlun/${IQN}/${CLIENT}`, { disk: `rbd/${name}` });
  await must(port, 'DELETE', `/api/client/${IQN}/${CLIENT}`, {});
  await must(port, 'PUT', `/api/targetauth/${IQN}`, { action: 'disable_acl' });
  console.log('');
  console.log(`## management latency, ms, median (p90) of ${extra} operations at each size (operations take it from size to size+${extra})`);
  console.log(['LUNs', 'disk create', 'disk register', 'LUN map', 'client map'].map((s) => s.padStart(16)).join(''));
  for (const r of rows) {
    const cell = (x) => `${x.median.toFixed(1)} (${x.p90.toFixed(1)})`.padStart(16);
    console.log(String(r.size).padStart(16) + cell(r.create) + cell(r.register) + cell(r.lunMap) + cell(r.clientMap));
  }
  if (rows.every((r) => Object.keys(r.cpu).length === 4)) {
    console.log('');
    console.log(`## the daemon's main thread: CPU ms per operation (mean of ${extra}; the API, the config write, the reconcile)`);
    console.log(['LUNs', 'disk create', 'disk register', 'LUN map', 'client map'].map((s) => s.padStart(16)).join(''));
    for (const r of rows) console.log(String(r.size).padStart(16) + ['create', 'register', 'lunMap', 'clientMap'].map((k) => r.cpu[k].toFixed(2).padStart(16)).join(''));
  }
  console.log(`# total LUNs: ${luns}`);
}

/** Login (ACL disabled: any initiator name) and REPORT LUNS: how many LUNs it lists, or -1 when it cannot log in yet. */
async function reportedLuns(MiniInitiator, iscsiPort, want) {
  let ini;
  try {
    ini = await MiniInitiator.connect('127.0.0.1', iscsiPort);
  } catch {
    return -1; // portal not listening yet
  }
  try {
    await ini.login(CLIENT, IQN);
    const alloc = 8 + 8 * (want + 64);
    // SPC-4 "REPORT LUNS": opcode A0h, SELECT REPORT 0, ALLOCATION LENGTH in bytes 6..9.
    const cdb = Buffer.alloc(12);
    cdb.writeUInt8(0xa0, 0);
    cdb.writeUInt32BE(alloc, 6);
    const r = await ini.command(0, cdb, alloc);
    if (r.status !== 0 || r.data.length < 4) return -1;
    return r.data.readUInt32BE(0) / 8; // LUN LIST LENGTH
  } catch {
    return -1;
  } finally {
    ini.close();
  }
}

async function serve(cfg, iscsiPort, luns, pidFile, logFile) {
  const { MiniInitiator } = await import(`${DIST}test/integration/mini-initiator.js`);
  const out = openSync(logFile, 'a');
  const t0 = performance.now();
  const child = spawn(process.execPath, [...(process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean), `${DIST}src/main.js`, '--config', cfg], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  writeFileSync(pidFile, `${child.pid}\n`);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  const deadline = t0 + 120_000;
  let seen = -1;
  let apiMs;
  const apiPort = /api_port = (\d+)/.exec(readFileSync(cfg, 'utf8'))?.[1];
  for (;;) {
    if (exited) throw new Error(`the daemon exited (see ${logFile})`);
    if (performance.now() > deadline) throw new Error(`not serving ${luns} LUNs after 120 s (last REPORT LUNS: ${seen})`);
    if (apiMs === undefined && apiPort !== undefined) {
      const ok = await request(apiPort, 'GET', '/api/_ping').then((r) => r.status === 200, () => false);
      if (ok) apiMs = performance.now() - t0;
    }
    seen = await reportedLuns(MiniInitiator, iscsiPort, luns);
    if (seen >= luns) break;
    // Polling: the daemon is a separate process; a refused connect costs well under a millisecond.
    await new Promise((r) => setTimeout(r, 5));
  }
  const servingMs = performance.now() - t0;
  // The API may come up after the portals (it loads once the LUNs are served): wait for it.
  while (apiMs === undefined && apiPort !== undefined) {
    if (exited) throw new Error(`the daemon exited (see ${logFile})`);
    if (performance.now() > deadline) throw new Error('the API does not answer after 120 s');
    const ok = await request(apiPort, 'GET', '/api/_ping').then((r) => r.status === 200, () => false);
    if (ok) apiMs = performance.now() - t0;
    else await new Promise((r) => setTimeout(r, 5));
  }
  console.log(`start to serving: ${luns} LUNs listed by REPORT LUNS after ${servingMs.toFixed(0)} ms (API answering after ${apiMs.toFixed(0)} ms)`);
}

const [cmd, ...args] = process.argv.slice(2);
switch (cmd) {
  case 'ops': {
    const [port, sizes, extra = '20', imageSize = '16M'] = args;
    await ops(port, sizes.split(/[ ,]+/).filter(Boolean).map(Number), Number(extra), imageSize);
    break;
  }
  case 'serve': {
    const [cfg, iscsiPort, luns, pidFile, logFile] = args;
    await serve(cfg, Number(iscsiPort), Number(luns), pidFile, logFile);
    break;
  }
  default:
    console.error('usage: mgmt.mjs ops API_PORT SIZES EXTRA IMAGE_SIZE | serve CFG ISCSI_PORT LUNS PIDFILE LOG');
    process.exit(2);
}
