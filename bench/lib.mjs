#!/usr/bin/env node
// Small helpers for bench/run.sh (node only, no curl/jq needed):
//   node bench/lib.mjs freeport                         -> a free 127.0.0.1 TCP port (kernel-chosen)
//   node bench/lib.mjs wait-ping API_PORT SECS          -> exit 0 once GET /api/_ping answers 200
//   node bench/lib.mjs api API_PORT METHOD PATH [k=v]…  -> form-encoded request with admin:admin; exit 1 unless 2xx
//   node bench/lib.mjs lun API_PORT IMAGE SIZE          -> target + gateway bench-gw + rbd/IMAGE as LUN 0 for qemu's initiator
//   node bench/lib.mjs cpu PID                          -> utime+stime of PID in clock ticks (/proc/PID/stat)
//   node bench/lib.mjs median N…                        -> median of the numbers
// bench/mgmt.mjs imports request() and median() from here; the commands run only when this file is
// the script node was started with.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';

const AUTH = 'Basic ' + Buffer.from('admin:admin').toString('base64');

/** One form-encoded API request with admin:admin -> { status, text }. */
export async function request(port, method, path, form) {
  const init = { method, headers: { authorization: AUTH }, signal: AbortSignal.timeout(30_000) };
  if (form) {
    init.headers['content-type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(form).toString();
  }
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, text: await res.text() };
}

/** Median of a list of numbers (NaN when empty). */
export function median(values) {
  const v = values.map(Number).filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));

async function main([cmd, ...args]) {
  switch (cmd) {
    case 'freeport': {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => console.log(typeof a === 'object' && a ? a.port : 0));
      });
      break;
    }
    case 'wait-ping': {
      const [port, secs = '20'] = args;
      const deadline = Date.now() + Number(secs) * 1000;
      for (;;) {
        try {
          const r = await request(port, 'GET', '/api/_ping');
          if (r.status === 200) process.exit(0);
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          console.error(`API on port ${port} not ready after ${secs} s`);
          process.exit(1);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    case 'api': {
      const [port, method, path, ...kv] = args;
      const form = kv.length > 0 || method !== 'GET' ? Object.fromEntries(kv.map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)])) : undefined;
      const r = await request(port, method, path, form);
      console.log(`${method} ${path} -> ${r.status} ${r.text.slice(0, 300)}`);
      process.exit(r.status >= 200 && r.status < 300 ? 0 : 1);
    }
    case 'lun': {
      // The seeds flow for a bench LUN: target, this gateway (bench-gw), disk rbd/IMAGE of SIZE as
      // LUN 0, qemu's initiator name as the ACL client with the disk mapped. A 4th argument
      // `existing`: the image exists already (create_image=false).
      const [port, image, size, existing] = args;
      const iqn = 'iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw';
      const qemu = 'iqn.2008-11.org.linux-kvm';
      const steps = [
        [`/api/target/${iqn}`, {}],
        [`/api/gateway/${iqn}/bench-gw`, { ip_address: '127.0.0.1', skipchecks: 'true' }],
        [`/api/disk/rbd/${image}`, { mode: 'create', size, create_image: existing === 'existing' ? 'false' : 'true' }],
        [`/api/targetlun/${iqn}`, { disk: `rbd/${image}` }],
        [`/api/client/${iqn}/${qemu}`, {}],
        [`/api/clientlun/${iqn}/${qemu}`, { disk: `rbd/${image}` }],
      ];
      for (const [path, form] of steps) {
        const r = await request(port, 'PUT', path, form);
        if (r.status < 200 || r.status >= 300) {
          console.error(`PUT ${path} -> ${r.status} ${r.text.slice(0, 300)}`);
          process.exit(1);
        }
      }
      break;
    }
    case 'cpu': {
      const stat = readFileSync(`/proc/${args[0]}/stat`, 'utf8');
      // Fields after the ")" that closes comm: state is field 3, utime 14, stime 15 (proc(5)).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      console.log(Number(f[11]) + Number(f[12]));
      break;
    }
    case 'median':
      console.log(median(args));
      break;
    case 'scrape': {
      // A Prometheus stand-in: GET /metrics every INTERVAL ms until killed; prints the scrapes
      // done and the bytes of the last one when it ends (SIGTERM).
      const [port, interval = '1000'] = args;
      let n = 0;
      let bytes = 0;
      process.on('SIGTERM', () => {
        console.log(`${n} scrapes, last ${bytes} bytes`);
        process.exit(0);
      });
      for (;;) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/metrics`);
          bytes = (await r.text()).length;
          if (r.status === 200) n++;
        } catch {
          // the gateway is starting or stopping
        }
        await new Promise((r) => setTimeout(r, Number(interval)));
      }
    }
    default:
      console.error('usage: lib.mjs freeport | wait-ping PORT SECS | api PORT METHOD PATH [k=v...] | lun PORT IMAGE SIZE [existing] | cpu PID | median N... | scrape PORT INTERVAL_MS');
      process.exit(2);
  }
}
