// The service map: who talks to whom, from the flows (processes to peers and
// ports) and the agent's L7 service map (src/l7/servicemap.ts: callers to
// callees, the same edges as GetServiceMap and vigil servicemap), laid out by dagre and
// drawn as SVG: a node per process or peer, an edge per conversation with its
// connections or requests, red for failed connections or 5% errors or more.
import dagre from '@dagrejs/dagre';
import { useEffect, useState } from 'preact/hooks';
import { ask, serviceMap } from './api';

interface Edge { from: string; to: string; label: string; failed: boolean }

const short = (s: string): string => (s.length > 34 ? `…${s.slice(-33)}` : s);

async function edges(since: string): Promise<Edge[]> {
  const flows = await ask({ named: 'net_flow_graph', params: { since, limit: '60' } });
  const out: Edge[] = flows.rows.map((r) => ({ from: String(r[0]), to: `${r[1]}:${r[2]}`, label: `${r[4]} conn`, failed: Number(r[7]) > 0 }));
  // No L7 sensor in the agent: the flows alone.
  const l7 = await serviceMap().catch(() => ({ edges: [] }));
  for (const e of l7.edges.slice(0, 40)) {
    out.push({ from: e.from, to: e.to, label: `${e.requests} req, p99 ${(e.p99Ns / 1e6).toFixed(1)} ms`, failed: e.errors >= 0.05 * e.requests });
  }
  return out;
}

export function ServiceMap({ since }: { since: string }) {
  const [graph, setGraph] = useState<{ es: Edge[]; error?: string }>({ es: [] });
  useEffect(() => {
    let live = true;
    const load = (): void => { edges(since).then((es) => live && setGraph({ es }), (e: Error) => live && setGraph({ es: [], error: e.message })); };
    load();
    const t = setInterval(load, 5000);
    return () => { live = false; clearInterval(t); };
  }, [since]);
  if (graph.error) return <p class="error">{graph.error}</p>;
  if (!graph.es.length) return <p class="empty">no flows or requests yet</p>;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 90, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(graph.es.flatMap((e) => [e.from, e.to]));
  for (const n of names) g.setNode(n, { label: short(n), width: Math.min(34, n.length) * 7 + 16, height: 26 });
  graph.es.forEach((e, i) => g.setEdge(e.from, e.to, { label: e.label, width: e.label.length * 6, height: 12 }, String(i)));
  dagre.layout(g);
  const { width = 0, height = 0 } = g.graph();
  return (
    <svg id="service-map" width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#8a94a6" /></marker></defs>
      {graph.es.map((e, i) => {
        const ed = g.edge({ v: e.from, w: e.to, name: String(i) }) as { points: { x: number; y: number }[]; x: number; y: number };
        return (
          <g class="edge" data-from={e.from} data-to={e.to}>
            <polyline points={ed.points.map((p) => `${p.x},${p.y}`).join(' ')} fill="none" stroke={e.failed ? '#d33' : '#8a94a6'} marker-end="url(#arrow)" />
            <text x={ed.x} y={ed.y} font-size="10" text-anchor="middle" fill="#555">{e.label}</text>
          </g>
        );
      })}
      {[...names].map((n) => {
        const nd = g.node(n) as { x: number; y: number; width: number; height: number };
        return (
          <g class="node" data-name={n}>
            <title>{n}</title>
            <rect x={nd.x - nd.width / 2} y={nd.y - nd.height / 2} width={nd.width} height={nd.height} rx="5" fill="#eaf2ff" stroke="#5a8fd6" />
            <text x={nd.x} y={nd.y + 4} font-size="11" text-anchor="middle">{short(n)}</text>
          </g>
        );
      })}
    </svg>
  );
}
