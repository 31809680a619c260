// The web console (console.address): the front end bundled at build time
// (console/app.tsx → dist/console/app.js) and one API call, a query of the
// store, behind a token. Other local users can reach localhost, so every API
// call needs the token, written at start to a file only root reads
// (STATE_DIRECTORY/console.token, 0600) and new at each start.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { repoPath } from '../util/paths.js';
import { namedQuery, namedSql, ParamError } from '../store/named.js';
import type { QueryResult } from '../store/store.js';
import { eventsRequest, HttpEventStream, type ConsoleEventsRequest } from './console-stream.js';
import type { GetEventsRequest } from './subscription.js';

export interface ConsoleOptions {
  host: string;
  port: number;
  stateDirectory: string;
  query(sql: string): Promise<QueryResult>;
  /** A live event stream (the agent's event hub): checks the request (throws for one it cannot serve), then opens the stream. */
  events?(r: GetEventsRequest, open: () => HttpEventStream): void;
  /** The service map of the L7 sensors (undefined: none running): what GetServiceMap answers. */
  serviceMap?(): object | undefined;
}

/** The page: the bundle does the rest. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil</title><meta name="viewport" content="width=device-width">
<style>
body{font:14px system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:24px;align-items:center;padding:8px 16px;background:#1d2330;color:#fff}
h1{font-size:18px;margin:0} nav button{background:none;border:0;color:#cdd3df;padding:6px 10px;cursor:pointer;font-size:14px}
nav button.active{color:#fff;border-bottom:2px solid #5aa9ff} main{padding:16px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px 12px;margin-bottom:16px;overflow:auto}
h2{font-size:15px;margin:4px 0 8px} table{border-collapse:collapse;font:12px ui-monospace,monospace}
th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eef0f3;white-space:pre} th{background:#f0f2f5}
.error{color:#b00020} .empty{color:#777} textarea{width:100%;font:13px ui-monospace,monospace} button#run{margin:8px 0}
.muted{color:#777;font-weight:normal;font-size:12px;margin-left:8px} .filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:8px}
#live-events td.kind{color:#2f6fd6} .charts{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap} h3{font-size:13px;margin:8px 0;width:100%}
</style></head><body><div id="app"></div><script type="module" src="/app.js"></script></body></html>
`;

/** Most bytes of a request body. */
const BODY_MAX = 64 << 10;

export class ConsoleServer {
  private constructor(private readonly server: http.Server, readonly tokenFile: string) {}

  /** Serves the console; the token is written first (0600). A bundle not built is an error that says so. */
  static async start(o: ConsoleOptions): Promise<ConsoleServer> {
    let app: Buffer;
    const bundle = repoPath('dist', 'console', 'app.js');
    try {
      app = readFileSync(bundle);
    } catch {
      throw new Error(`console: ${bundle} is missing (npm run build bundles it)`);
    }
    const token = randomBytes(24).toString('base64url');
    mkdirSync(o.stateDirectory, { recursive: true, mode: 0o700 });
    const tokenFile = path.join(o.stateDirectory, 'console.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    const expected = Buffer.from(`Bearer ${token}`);
    const authorized = (req: http.IncomingMessage): boolean => {
      const got = Buffer.from(req.headers.authorization ?? '');
      return got.length === expected.length && timingSafeEqual(got, expected);
    };
    const server = http.createServer((req, res) => {
      const url = req.url?.split('?')[0];
      const send = (status: number, type: string, body: string | Buffer): void => {
        res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "default-src 'self'; style-src 'unsafe-inline'" });
        res.end(body);
      };
      const json = (status: number, body: object): void => send(status, 'application/json', JSON.stringify(body));
      if (req.method === 'GET' && url === '/') return send(200, 'text/html; charset=utf-8', PAGE);
      if (req.method === 'GET' && url === '/app.js') return send(200, 'text/javascript; charset=utf-8', app);
      if (url !== '/api/query' && url !== '/api/events' && url !== '/api/servicemap') return json(404, { error: 'not found' });
      if (req.method !== 'POST') return json(405, { error: 'POST only' });
      if (!authorized(req)) return json(401, { error: 'the token is missing or wrong (the console.token file in the agent\'s state directory)' });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > BODY_MAX) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        let body: { sql?: unknown; named?: unknown; params?: unknown };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        } catch {
          return json(400, { error: 'expected a JSON body' });
        }
        if (url === '/api/servicemap') {
          const map = o.serviceMap?.();
          return map ? json(200, map) : json(503, { error: 'no L7 sensor in this agent (sensors: http, redis, pgsql, mysql)' });
        }
        if (url === '/api/events') {
          if (!o.events) return json(503, { error: 'no event stream here' });
          let r: GetEventsRequest;
          try {
            r = eventsRequest(body as ConsoleEventsRequest);
          } catch (e) {
            return json(400, { error: (e as Error).message });
          }
          // The request is checked (subscribe) before the stream's headers go.
          try {
            o.events(r, () => new HttpEventStream(req, res));
          } catch (e) {
            if (!res.headersSent) return json(400, { error: (e as Error).message });
            res.end(`${JSON.stringify({ error: (e as Error).message })}\n`);
          }
          return;
        }
        let sql: string;
        try {
          if (typeof body.named === 'string') {
            const q = namedQuery(body.named);
            if (!q) throw new ParamError(`no named query "${body.named}"`);
            sql = namedSql(q, (body.params ?? {}) as Record<string, string>);
          } else if (typeof body.sql === 'string') sql = body.sql;
          else throw new ParamError('expected {"sql": ...} or {"named": ..., "params": {...}}');
        } catch (e) {
          return json(400, { error: e instanceof ParamError ? e.message : 'expected a JSON body' });
        }
        o.query(sql).then((r) => json(200, r), (e: Error) => {
          json(e.name === 'QueryError' ? 400 : e.name === 'QueryLimitError' ? 429 : 503, { error: e.message });
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => resolve());
    });
    return new ConsoleServer(server, tokenFile);
  }

  /** The address it listens on (the port the kernel chose for port 0). */
  get url(): string {
    const a = this.server.address();
    if (!a || typeof a !== 'object') return '';
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
