// The CPU flame graph: the profile sensor's folded stacks (profile_samples,
// through the top_stacks named query) merged into one tree and drawn by
// d3-flame-graph (click a frame to zoom, search highlights). Filters: a time
// range, a process (name or executable path) and a container.
import flamegraph from 'd3-flame-graph';
// Its stylesheet is not in the package's exports: by path.
import flamegraphCss from '../node_modules/d3-flame-graph/dist/d3-flamegraph.css';
import { select } from 'd3-selection';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ask, type Result } from './api';

const style = document.createElement('style');
style.textContent = flamegraphCss;
document.head.appendChild(style);

interface Node { name: string; value: number; children: Node[] }

/** Stacks the graph is drawn from at most (the most sampled first): a host's busy minutes stay a graph a browser draws quickly. */
const STACKS = 2000;

/** Folded stacks ("a;b;c", samples) as the tree d3-flame-graph draws: each node's value is its subtree's samples. */
export function treeOf(r: Result): Node {
  const root: Node = { name: 'all', value: 0, children: [] };
  const stackAt = r.columns.indexOf('stack');
  const samplesAt = r.columns.indexOf('samples');
  for (const row of r.rows) {
    const n = Number(row[samplesAt]);
    let node = root;
    node.value += n;
    for (const name of String(row[stackAt]).split(';')) {
      let child = node.children.find((c) => c.name === name);
      if (!child) node.children.push((child = { name, value: 0, children: [] }));
      child.value += n;
      node = child;
    }
  }
  return root;
}

/** The most sampled stacks listed under the graph (same filters). */
const TOP = 20;

const RANGES: [string, string][] = [['5m', 'last 5 minutes'], ['15m', 'last 15 minutes'], ['1h', 'last hour'], ['6h', 'last 6 hours'], ['24h', 'last 24 hours']];

export function FlameGraph() {
  const [since, setSince] = useState('15m');
  const [proc, setProc] = useState('');
  const [container, setContainer] = useState('');
  const [state, setState] = useState<{ tree?: Node; stacks?: number; top?: unknown[][]; columns?: string[]; error?: string }>({});
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let live = true;
    const load = (): void => {
      ask({ named: 'top_stacks', params: { since, process: proc, container, limit: String(STACKS) } }).then(
        (r) => live && setState({ tree: treeOf(r), stacks: r.rows.length, top: r.rows.slice(0, TOP), columns: r.columns }),
        (e: Error) => live && setState({ error: e.message }),
      );
    };
    load();
    const t = setInterval(load, 10_000);
    return () => { live = false; clearInterval(t); };
  }, [since, proc, container]);
  useEffect(() => {
    if (!el.current) return;
    el.current.replaceChildren();
    if (!state.tree?.value) return;
    // Frames narrower than a pixel are not drawn (their samples stay in their parents' width).
    const chart = flamegraph().width(Math.max(600, el.current.clientWidth)).cellHeight(18).transitionDuration(0).minFrameSize(1)
      .title('').selfValue(false).sort(true);
    select(el.current).datum(state.tree).call(chart);
    return () => chart.destroy?.();
  }, [JSON.stringify(state.tree)]);
  const onEnter = (set: (v: string) => void) => (e: KeyboardEvent): void => {
    if (e.key === 'Enter') set((e.target as HTMLInputElement).value.trim());
  };
  return (
    <section data-view="flamegraph">
      <h2>CPU flame graph</h2>
      <div class="filters">
        <select id="flame-since" value={since} onChange={(e) => setSince((e.target as HTMLSelectElement).value)}>
          {RANGES.map(([v, label]) => <option value={v}>{label}</option>)}
        </select>
        <input id="flame-process" placeholder="process name or path (Enter)" onKeyDown={onEnter(setProc)} />
        <input id="flame-container" placeholder="container id, or host (Enter)" onKeyDown={onEnter(setContainer)} />
        <span id="flame-status">{state.error ? '' : state.tree ? `${state.tree.value} samples, ${state.stacks} stacks` : 'loading…'}</span>
      </div>
      {state.error && <p class="error">{state.error}</p>}
      {state.tree && !state.tree.value && <p class="empty">no samples (the agent's profile sensor: profile in sensors)</p>}
      <div id="flamegraph" ref={el} />
      {state.top && state.top.length > 0 && <StackTable columns={state.columns!} rows={state.top} />}
    </section>
  );
}

/** The most sampled stacks under the graph's filters: the counts first, the stack (long) last. */
function StackTable({ columns, rows }: { columns: string[]; rows: unknown[][] }) {
  const order = ['samples', 'percent', 'processes', 'exe', 'stack'].map((c) => columns.indexOf(c)).filter((i) => i >= 0);
  return (
    <div id="flame-stacks">
      <h3>Most sampled stacks</h3>
      <table>
        <thead><tr>{order.map((i) => <th>{columns[i]}</th>)}</tr></thead>
        <tbody>{rows.map((r) => <tr>{order.map((i) => <td>{String(r[i] ?? '')}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}
