// The agent's web console: its live event stream with filters, and the
// store's answers in the browser (processes, alerts and policy events, the
// service map, per-service charts, the latest requests, a CPU flame graph, any
// SQL), refreshed every few seconds.
// Bundled at build time with esbuild (scripts/build.sh) into
// dist/console/app.js and served by the agent (src/agent/console.ts); no CDN.
import { render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ask, token, type Result } from './api';
import { Live } from './live';
import { ServiceMap } from './servicemap';
import { ServiceCharts } from './charts';
import { FlameGraph } from './flamegraph';

interface View {
  id: string;
  title: string;
  /** Drawn first (a live stream, a graph, charts). */
  top?: () => ComponentChildren;
  /** Named queries (with parameters) shown one under the other. */
  queries: { named: string; params: Record<string, string>; caption: string }[];
}

const VIEWS: View[] = [
  { id: 'live', title: 'Live', top: () => <Live />, queries: [] },
  { id: 'processes', title: 'Processes', queries: [{ named: 'process_tree', params: {}, caption: 'Running now' }] },
  { id: 'alerts', title: 'Alerts', queries: [{ named: 'alerts', params: { since: '24h' }, caption: 'Alerts and policy events, last 24 h' }] },
  {
    id: 'network', title: 'Network', top: () => <section><h2>Service map, last hour</h2><ServiceMap since="1h" /></section>, queries: [
      { named: 'net_flow_graph', params: { since: '1h' }, caption: 'Who talks to whom, last hour' },
      { named: 'top_talkers', params: { since: '1h' }, caption: 'Top talkers, last hour' },
    ],
  },
  {
    id: 'services', title: 'Services', top: () => <section><h2>Per service, last hour</h2><ServiceCharts since="1 HOUR" seconds={3600} /></section>,
    queries: [
      { named: 'service_stats', params: { since: '1h' }, caption: 'Requests per service and endpoint (L7 records)' },
      { named: 'slow_requests', params: { since: '1h' }, caption: 'Slowest requests, last hour' },
      { named: 'http_data', params: { since: '1h', limit: '50' }, caption: 'Latest HTTP requests' },
    ],
  },
  {
    id: 'profile', title: 'Profile', top: () => <FlameGraph />, queries: [],
  },
];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function Table({ result }: { result: Result }) {
  if (!result.rows.length) return <p class="empty">no rows</p>;
  return (
    <table>
      <thead><tr>{result.columns.map((c) => <th>{c}</th>)}</tr></thead>
      <tbody>{result.rows.map((r) => <tr>{r.map((v) => <td>{cell(v)}</td>)}</tr>)}</tbody>
    </table>
  );
}

function Query({ body, caption, refreshMs }: { body: object; caption: string; refreshMs: number }) {
  const [result, setResult] = useState<Result | undefined>();
  const [error, setError] = useState<string | undefined>();
  const key = JSON.stringify(body);
  useEffect(() => {
    let live = true;
    const load = (): void => {
      ask(body).then((r) => { if (live) { setResult(r); setError(undefined); } }, (e: Error) => { if (live) setError(e.message); });
    };
    load();
    const t = refreshMs > 0 ? setInterval(load, refreshMs) : undefined;
    return () => { live = false; if (t) clearInterval(t); };
  }, [key]);
  return (
    <section data-query={(body as { named?: string }).named ?? 'sql'}>
      <h2>{caption}</h2>
      {error ? <p class="error">{error}</p> : result ? <Table result={result} /> : <p>loading…</p>}
    </section>
  );
}

function Sql() {
  const [text, setText] = useState('SELECT kind, exe, count(*) AS n FROM process_events GROUP BY ALL ORDER BY n DESC LIMIT 20');
  const [run, setRun] = useState<string | undefined>();
  return (
    <div>
      <textarea id="sql" rows={4} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <button id="run" onClick={() => setRun(text)}>Run</button>
      {run !== undefined && <Query body={{ sql: run }} caption="Result" refreshMs={0} />}
    </div>
  );
}

function App() {
  const [view, setView] = useState(location.hash.startsWith('#view=') ? location.hash.slice(6) : 'live');
  const current = VIEWS.find((v) => v.id === view);
  return (
    <div>
      <header>
        <h1>Vigil</h1>
        <nav>
          {[...VIEWS.map((v) => [v.id, v.title]), ['sql', 'SQL']].map(([id, title]) => (
            <button id={`tab-${id}`} class={id === view ? 'active' : ''} onClick={() => setView(id!)}>{title}</button>
          ))}
        </nav>
      </header>
      <main>
        {current?.top?.()}
        {current ? current.queries.map((q) => <Query key={`${view}-${q.named}`} body={{ named: q.named, params: q.params }} caption={q.caption} refreshMs={5000} />) : <Sql />}
      </main>
    </div>
  );
}

token();
render(<App />, document.getElementById('app')!);
