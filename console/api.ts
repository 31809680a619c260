// The console's two calls to the agent, both behind the token: a query of the
// store (POST /api/query) and the live event stream (POST /api/events, JSON
// lines read as they come). The token comes in the address's fragment
// (#token=...), which browsers do not send to servers, and is kept for the tab.

export interface Result {
  columns: string[];
  types: string[];
  rows: unknown[][];
  truncated: boolean;
}

export function token(): string {
  const m = /token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('vigil-token', decodeURIComponent(m[1]!));
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem('vigil-token') ?? '';
}

const headers = (): Record<string, string> => ({ 'Content-Type': 'application/json', Authorization: `Bearer ${token()}` });

export async function ask(body: object): Promise<Result> {
  const r = await fetch('/api/query', { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  const j = (await r.json()) as Result & { error?: string };
  if (!r.ok) throw new Error(j.error ?? `HTTP ${r.status}`);
  return j;
}

export interface ServiceEdge { from: string; to: string; protocol: string; requests: number; errors: number; p50Ns: number; p99Ns: number }

/** The agent's service map (src/l7/servicemap.ts, as GetServiceMap gives it): who calls whom since the L7 sensor started. */
export async function serviceMap(): Promise<{ seconds: number; edges: ServiceEdge[] }> {
  const r = await fetch('/api/servicemap', { method: 'POST', headers: headers(), body: '{}' });
  const j = (await r.json()) as { seconds: number; edges: ServiceEdge[]; error?: string };
  if (!r.ok) throw new Error(j.error ?? `HTTP ${r.status}`);
  return j;
}

export type StreamItem = { kind: string; timeNs: string; line: string } | { lost: { count: number; sensor: string; reason: string } } | { error: string };

/** Reads the live stream until `signal` aborts it; each line to `onItem`. */
export async function stream(filter: object, onItem: (item: StreamItem) => void, signal: AbortSignal): Promise<void> {
  const r = await fetch('/api/events', { method: 'POST', headers: headers(), body: JSON.stringify(filter), signal });
  if (!r.ok || !r.body) {
    const j = (await r.json().catch(() => ({}))) as { error?: string };
    throw new Error(j.error ?? `HTTP ${r.status}`);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l) onItem(JSON.parse(l) as StreamItem);
  }
}

/** A column's values by name. */
export function column(r: Result, name: string): unknown[] {
  const i = r.columns.indexOf(name);
  return i < 0 ? [] : r.rows.map((row) => row[i]);
}
