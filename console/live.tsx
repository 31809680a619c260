// The live event stream: the agent's events as they happen (its event hub,
// the filters of `vigil events`), the newest on top, at most MAX_LINES kept.
import { useEffect, useRef, useState } from 'preact/hooks';
import { stream, type StreamItem } from './api';

const KINDS = ['exec', 'exit', 'fork', 'file', 'flow', 'dns', 'policy', 'alert'];
const MAX_LINES = 500;

interface Line { id: number; kind: string; text: string }

export function Live() {
  const [kinds, setKinds] = useState<string[]>(['exec', 'exit', 'flow', 'dns', 'policy', 'alert']);
  const [pid, setPid] = useState('');
  const [binary, setBinary] = useState('');
  const [text, setText] = useState('');
  const [lines, setLines] = useState<Line[]>([]);
  const [status, setStatus] = useState('connecting…');
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  const filter = { kinds, pids: /^\d+$/.test(pid) ? [Number(pid)] : [], binaryPrefixes: binary ? [binary] : [], last: 100 };
  const key = JSON.stringify(filter);
  useEffect(() => {
    const abort = new AbortController();
    let next = 0;
    let pending: Line[] = [];
    let lost = 0;
    // Lines arrive in bursts: the view is redrawn at most ten times a second.
    const timer = setInterval(() => {
      if (!pending.length || pausedRef.current) return;
      const add = pending;
      pending = [];
      setLines((old) => [...add.reverse(), ...old].slice(0, MAX_LINES));
    }, 100);
    setLines([]);
    setStatus('connecting…');
    const onItem = (item: StreamItem): void => {
      if ('line' in item) pending.push({ id: next++, kind: item.kind, text: item.line });
      else if ('lost' in item) {
        lost += item.lost.count;
        setStatus(`live; ${lost} events lost (${item.lost.reason})`);
      } else setStatus(`stopped: ${item.error}`);
      if (pending.length > MAX_LINES) pending = pending.slice(-MAX_LINES);
    };
    setStatus('live');
    stream(filter, onItem, abort.signal).then(() => setStatus('ended'), (e: Error) => { if (!abort.signal.aborted) setStatus(`error: ${e.message}`); });
    return () => { abort.abort(); clearInterval(timer); };
  }, [key]);
  const shown = text ? lines.filter((l) => l.text.includes(text)) : lines;
  return (
    <section data-view="live">
      <h2>Live events <span class="muted" id="live-status">{status}</span></h2>
      <div class="filters">
        {KINDS.map((k) => (
          <label><input type="checkbox" data-kind={k} checked={kinds.includes(k)}
            onChange={(e) => setKinds((e.target as HTMLInputElement).checked ? [...kinds, k] : kinds.filter((x) => x !== k))} /> {k}</label>
        ))}
        <input id="live-pid" placeholder="pid" size={7} value={pid} onChange={(e) => setPid((e.target as HTMLInputElement).value.trim())} />
        <input id="live-binary" placeholder="binary prefix" size={18} value={binary} onChange={(e) => setBinary((e.target as HTMLInputElement).value.trim())} />
        <input id="live-text" placeholder="contains…" size={18} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <button onClick={() => setPaused(!paused)}>{paused ? 'Resume' : 'Pause'}</button>
      </div>
      <table id="live-events">
        <tbody>{shown.map((l) => <tr key={l.id} data-kind={l.kind}><td class="kind">{l.kind}</td><td>{l.text}</td></tr>)}</tbody>
      </table>
    </section>
  );
}
