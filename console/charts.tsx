// Per-service charts from l7_rollup: requests and errors a minute, and the
// latency's p50 and p99 a minute (from the merged latency buckets), drawn with
// uPlot, one row of charts per service (the busiest first).
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ask, type Result } from './api';

const style = document.createElement('style');
style.textContent = uplotCss;
document.head.appendChild(style);

const SQL = (since: string): string => `WITH b AS (
  SELECT service, time, latency_bucket AS bucket, sum(requests) AS n, sum(errors) AS e FROM l7_rollup
  WHERE time >= now()::TIMESTAMP - INTERVAL ${since} GROUP BY ALL
), c AS (
  SELECT *, sum(n) OVER (PARTITION BY service, time ORDER BY bucket NULLS LAST ROWS UNBOUNDED PRECEDING) AS below,
    sum(CASE WHEN bucket IS NOT NULL THEN n END) OVER (PARTITION BY service, time) AS timed FROM b
)
SELECT service, epoch(time) AS t, sum(n) AS requests, sum(e) AS errors,
  pow(2, (min(bucket) FILTER (WHERE bucket IS NOT NULL AND below >= 0.5 * timed) + 0.5) / 8) / 1e6 AS p50_ms,
  pow(2, (min(bucket) FILTER (WHERE bucket IS NOT NULL AND below >= 0.99 * timed) + 0.5) / 8) / 1e6 AS p99_ms
FROM c GROUP BY service, time ORDER BY service, time`;

/** The time axis spans the whole window asked for, ending now: uPlot's own range around one or two minutes of data would span years. */
function Chart({ title, xs, series, span }: {
  title: string; xs: number[]; series: { label: string; color: string; values: (number | null)[] }[]; span: [number, number];
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const plot = new uPlot({
      title, width: 360, height: 170, series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, points: { show: xs.length < 3 } }))],
      scales: { x: { time: true, range: () => span } },
      axes: [{}, { size: 50 }],
    }, [xs, ...series.map((s) => s.values)] as uPlot.AlignedData, el.current);
    return () => plot.destroy();
  }, [JSON.stringify([xs, series, span])]);
  return <div class="chart" ref={el} />;
}

/** `since` is a SQL interval (`1 HOUR`); `seconds` the same span, for the charts' time axis. */
export function ServiceCharts({ since, seconds }: { since: string; seconds: number }) {
  const [r, setR] = useState<{ result?: Result; error?: string }>({});
  useEffect(() => {
    let live = true;
    const load = (): void => { ask({ sql: SQL(since) }).then((result) => live && setR({ result }), (e: Error) => live && setR({ error: e.message })); };
    load();
    const t = setInterval(load, 5000);
    return () => { live = false; clearInterval(t); };
  }, [since]);
  if (r.error) return <p class="error">{r.error}</p>;
  if (!r.result) return <p>loading…</p>;
  const by = new Map<string, unknown[][]>();
  for (const row of r.result.rows) {
    const s = String(row[0]);
    if (!by.has(s)) by.set(s, []);
    by.get(s)!.push(row);
  }
  if (!by.size) return <p class="empty">no L7 records yet</p>;
  const now = Math.ceil(Date.now() / 60_000) * 60;
  const span: [number, number] = [now - seconds, now];
  const busiest = [...by].sort((a, b) => b[1].reduce((x, y) => x + Number(y[2]), 0) - a[1].reduce((x, y) => x + Number(y[2]), 0)).slice(0, 8);
  return (
    <div>
      {busiest.map(([service, rows]) => {
        const xs = rows.map((x) => Number(x[1]));
        const num = (i: number): (number | null)[] => rows.map((x) => (x[i] === null ? null : Number(x[i])));
        return (
          <div class="charts" data-service={service}>
            <h3>{service}</h3>
            <Chart title="requests / min" xs={xs} series={[{ label: 'requests', color: '#2f6fd6', values: num(2) }, { label: 'errors', color: '#d33', values: num(3) }]} span={span} />
            <Chart title="latency (ms)" xs={xs} series={[{ label: 'p50', color: '#2a9d60', values: num(4) }, { label: 'p99', color: '#e08a00', values: num(5) }]} span={span} />
          </div>
        );
      })}
    </div>
  );
}
