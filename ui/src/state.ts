/**
 * What every page reads: the config document (reloaded after each change and every 5 s, so
 * changes made by gwcli or another gateway show up) and this gateway's `/api/_stats`, read
 * every second; rates come from the difference of two readings.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import type { ClusterInfo, ConfigDoc, LunStats, StatsReply } from './api.js';

export interface Rate {
  time: number;
  iops: number;
  mbps: number;
  /** Mean latency of the commands of the interval, ms (0 without commands). */
  latencyMs: number;
}

/** Points kept per LUN for the charts (one a second). */
export const HISTORY = 60;

export interface Data {
  config: ConfigDoc | undefined;
  cluster: ClusterInfo | undefined;
  stats: StatsReply | undefined;
  /** Rates per LUN key `target|disk`, oldest first. */
  history: ReadonlyMap<string, Rate[]>;
  /** Rates of every LUN together. */
  total: Rate[];
  error: string;
  refresh: () => void;
}

export const DataContext = createContext<Data | undefined>(undefined);

export function useData(): Data {
  const d = useContext(DataContext);
  if (d === undefined) throw new Error('useData outside DataProvider');
  return d;
}

const lunKey = (l: LunStats): string => `${l.target}|${l.disk}`;

function rate(prev: LunStats[], cur: LunStats[], seconds: number, time: number): Rate {
  let cmds = 0;
  let bytes = 0;
  let lat = 0;
  for (const c of cur) {
    const p = prev.find((x) => lunKey(x) === lunKey(c));
    if (p === undefined) continue;
    const n = c.commands.read + c.commands.write + c.commands.other - (p.commands.read + p.commands.write + p.commands.other);
    cmds += Math.max(0, n);
    bytes += Math.max(0, c.readBytes + c.writeBytes - p.readBytes - p.writeBytes);
    lat += Math.max(0, c.latencySeconds.read + c.latencySeconds.write + c.latencySeconds.other - (p.latencySeconds.read + p.latencySeconds.write + p.latencySeconds.other));
  }
  return { time, iops: cmds / seconds, mbps: bytes / seconds / 1e6, latencyMs: cmds > 0 ? (lat / cmds) * 1000 : 0 };
}

const push = (list: Rate[], r: Rate): Rate[] => [...list, r].slice(-HISTORY);

export function useDataSource(): Data {
  const [config, setConfig] = useState<ConfigDoc | undefined>();
  const [cluster, setCluster] = useState<ClusterInfo | undefined>();
  const [stats, setStats] = useState<StatsReply | undefined>();
  const [history, setHistory] = useState<ReadonlyMap<string, Rate[]>>(new Map());
  const [total, setTotal] = useState<Rate[]>([]);
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  const prev = useRef<StatsReply | undefined>(undefined);

  useEffect(() => {
    let live = true;
    const load = async (): Promise<void> => {
      try {
        const [c, cl] = await Promise.all([api.get<ConfigDoc>('/api/config'), api.get<ClusterInfo>('/api/cluster')]);
        if (!live) return;
        setConfig(c);
        setCluster(cl);
        setError('');
      } catch (err) {
        if (live) setError(err instanceof ApiError ? `${err.status}: ${err.message}` : String(err));
      }
    };
    void load();
    const t = setInterval(() => void load(), 5000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [tick]);

  useEffect(() => {
    let live = true;
    const poll = async (): Promise<void> => {
      try {
        const s = await api.get<StatsReply>('/api/_stats');
        if (!live) return;
        const p = prev.current;
        prev.current = s;
        setStats(s);
        if (p === undefined || s.time <= p.time) return;
        const seconds = (s.time - p.time) / 1000;
        setTotal((old) => push(old, rate(p.luns, s.luns, seconds, s.time)));
        setHistory((old) => {
          const next = new Map<string, Rate[]>();
          for (const l of s.luns) next.set(lunKey(l), push(old.get(lunKey(l)) ?? [], rate(p.luns.filter((x) => lunKey(x) === lunKey(l)), [l], seconds, s.time)));
          return next;
        });
      } catch {
        // the config loader reports the API being unreachable
      }
    };
    void poll();
    const t = setInterval(() => void poll(), 1000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);

  return { config, cluster, stats, history, total, error, refresh: () => setTick((n) => n + 1) };
}

/** "1.5 GiB" */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i] ?? ''}`;
}
