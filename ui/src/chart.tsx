/** A line chart of the last minute of one rate, as SVG (no chart library), with its latest value in words. */
import type { JSX } from 'preact';
import { HISTORY, type Rate } from './state.js';

const W = 320;
const H = 90;

export function RateChart(props: { title: string; points: readonly Rate[]; pick: (r: Rate) => number; unit: string; id: string }): JSX.Element {
  const values = props.points.map(props.pick);
  const max = Math.max(1, ...values);
  const step = W / (HISTORY - 1);
  const offset = HISTORY - values.length;
  const line = values.map((v, i) => `${((offset + i) * step).toFixed(1)},${(H - (v / max) * (H - 4)).toFixed(1)}`).join(' ');
  const last = values[values.length - 1] ?? 0;
  const text = `${last >= 100 ? Math.round(last) : last.toFixed(1)} ${props.unit}`;
  return (
    <figure class="chart" data-chart={props.id} data-last={String(last)} data-points={String(values.length)}>
      <figcaption>
        {props.title}: <strong>{text}</strong> <small class="hint">(top of the chart: {max >= 100 ? Math.round(max) : max.toFixed(1)} {props.unit})</small>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title} over the last minute, now ${text}, peak ${Math.round(max)}`} preserveAspectRatio="none">
        <line x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} class="axis" />
        {values.length > 1 && <polyline points={line} class="line" />}
      </svg>
    </figure>
  );
}

/** IOPS, MB/s and latency side by side. */
export function RateCharts(props: { points: readonly Rate[]; id: string; label: string }): JSX.Element {
  return (
    <section class="charts" aria-label={props.label}>
      <RateChart id={`${props.id}-iops`} title="IOPS" points={props.points} pick={(r) => r.iops} unit="IOPS" />
      <RateChart id={`${props.id}-mbps`} title="Throughput" points={props.points} pick={(r) => r.mbps} unit="MB/s" />
      <RateChart id={`${props.id}-lat`} title="Latency" points={props.points} pick={(r) => r.latencyMs} unit="ms" />
    </section>
  );
}
