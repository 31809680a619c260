// Real servers for the L7 tests, each on a free loopback port in the test's
// scratch directory, run as the user it requires, stopped (with its
// children) by stop(), on failure too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/util/net.js';
import { waitFor } from './helpers.js';

export interface Server {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Starts argv (detached: its own process group, so stop() ends its children too) and waits for the port. */
async function serve(argv: string[], port: number, what: string, opts: { cwd?: string } = {}): Promise<Server> {
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: true, cwd: opts.cwd });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let exited = false;
  const done = new Promise<void>((r) => child.once('close', () => { exited = true; r(); }));
  const stop = async (): Promise<void> => {
    if (!exited) {
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await done;
      clearTimeout(t);
    }
  };
  if (!await waitFor(async () => exited || await accepting(port), 30_000, 50) || exited) {
    await stop();
    throw new Error(`${what} did not start on port ${port}: ${stderr.slice(-2000)}`);
  }
  return { port, pid: child.pid!, stop };
}

/** Python's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive): /users/N, /chunked, /fail, else 404. */
export async function pythonHttp(tmp: string): Promise<Server> {
  const script = path.join(tmp, 'server.py');
  writeFileSync(script, `import sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def plain(self, status, body=b''):
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith('/users/'):
            self.plain(200, b'{"id": 1}')
        elif self.path == '/chunked':
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            for part in [b'hello', b'x' * 3000, b'end']:
                self.wfile.write(b'%x\\r\\n' % len(part) + part + b'\\r\\n')
            self.wfile.write(b'0\\r\\n\\r\\n')
        elif self.path == '/fail':
            self.plain(500)
        else:
            self.plain(404)
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`);
  const port = await freePort();
  return serve(['python3', script, String(port)], port, 'python http.server');
}

/** A self-signed certificate for 127.0.0.1/localhost (openssl), its files in tmp. */
export function selfSignedCert(tmp: string): { cert: string; key: string } {
  const cert = path.join(tmp, 'cert.pem');
  const key = path.join(tmp, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  chmodSync(key, 0o644);
  return { cert, key };
}

/**
 * dir/nginx.conf: nginx in the foreground with its pid, logs and temporary files in dir, no access log,
 * `http` added to its http block and one server listening at `listen` with `server` inside.
 */
export function writeNginxConf(dir: string, o: { workers: number; connections: number; http: string; listen: string; server: string }): void {
  writeFileSync(path.join(dir, 'nginx.conf'), `daemon off;
master_process on;
worker_processes ${o.workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections ${o.connections}; }
http {
  access_log off;
  ${o.http}
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen ${o.listen};
    ${o.server}
  }
}
`);
}

/** nginx (master as root, worker as nobody): a static file (sent with sendfile) and /api/ok; over TLS with `tls`. */
export async function nginx(tmp: string, tls?: { cert: string; key: string }): Promise<Server> {
  const dir = path.join(tmp, 'nginx');
  mkdirSync(path.join(dir, 'www'), { recursive: true });
  chmodSync(tmp, 0o755);
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'www', 'big.bin'), Buffer.alloc(200_000, 7));
  const port = await freePort();
  writeNginxConf(dir, { workers: 1, connections: 64, http: 'sendfile on;',
    listen: `127.0.0.1:${port}${tls ? ` ssl;\n    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key}` : ''}`,
    server: `root ${dir}/www;\n    location = /api/ok { default_type text/plain; return 200 "ok\\n"; }` });
  return serve(['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], port, 'nginx');
}

/** redis-server, no persistence. */
export async function redis(tmp: string): Promise<Server> {
  const port = await freePort();
  return serve(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', tmp], port, 'redis-server');
}

/** PostgreSQL as the postgres user: a fresh cluster (trust auth) in the scratch directory. */
export async function postgres(tmp: string): Promise<Server> {
  const dir = path.join(tmp, 'pg');
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(tmp, 0o755);
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
  chownSync(dir, uid, gid);
  const init = spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', path.join(dir, 'data'), '-A', 'trust',
    '-U', 'postgres', '--no-sync', '--no-instructions'], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  return serve(['runuser', '-u', 'postgres', '--', `${PG_BIN}/postgres`, '-D', path.join(dir, 'data'), '-p', String(port),
    '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], port, 'postgres');
}

/**
 * MariaDB from Debian (mariadbd as root, an empty data directory, no grant
 * tables: any user and password are let in, as the tests' clients need).
 */
export async function mariadb(tmp: string): Promise<Server> {
  const dir = path.join(tmp, 'mariadb');
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  return serve(['mariadbd', '--no-defaults', `--datadir=${dir}/data`, `--socket=${dir}/sock`, `--port=${port}`, '--bind-address=127.0.0.1',
    '--user=root', '--skip-grant-tables', `--pid-file=${dir}/pid`, `--log-error=${dir}/error.log`, '--innodb-log-file-size=4M',
    '--innodb-buffer-pool-size=8M'], port, 'mariadb');
}


/** The repository's root (dist/test/.. /..): Node scripts in the scratch directory load its node_modules by path. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A package of the repository's node_modules, as a path a script can require. */
export const modulePath = (name: string): string => path.join(ROOT, 'node_modules', name);

/**
 * Node's http2 server: /users/N 200, /fail 500, else 404. Cleartext (h2c), or with `tls` the secure server
 * (ALPN h2, over Node's own static OpenSSL).
 */
export async function nodeHttp2(tmp: string, tls?: { cert: string; key: string }): Promise<Server> {
  const script = path.join(tmp, tls ? 'h2-tls-server.cjs' : 'h2-server.cjs');
  const make = tls
    ? `http2.createSecureServer({ cert: fs.readFileSync(process.argv[3]), key: fs.readFileSync(process.argv[4]) }, `
    : 'http2.createServer(';
  writeFileSync(script, `const http2 = require('node:http2');
const fs = require('node:fs');
const s = ${make}(req, res) => {
  const status = req.url.startsWith('/users/') ? 200 : req.url === '/fail' ? 500 : 404;
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(status === 200 ? '{"id": 1}' : '');
});
s.listen(Number(process.argv[2]), '127.0.0.1');
`);
  const port = await freePort();
  return serve([process.execPath, script, String(port), ...(tls ? [tls.cert, tls.key] : [])], port,
    tls ? 'node http2 secure server' : 'node http2 server');
}

/** The proto of the gRPC tests: demo.Greeter/SayHello. */
export function greeterProto(tmp: string): string {
  const file = path.join(tmp, 'greeter.proto');
  writeFileSync(file, `syntax = "proto3";
package demo;
service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
message HelloRequest { string name = 1; }
message HelloReply { string message = 1; }
`);
  return file;
}

/**
 * A @grpc/grpc-js server of demo.Greeter: SayHello answers OK, or NOT_FOUND for the name "missing";
 * over TLS with `tls`.
 */
export async function grpcServer(tmp: string, tls?: { cert: string; key: string }): Promise<Server> {
  const script = path.join(tmp, tls ? 'grpc-tls-server.cjs' : 'grpc-server.cjs');
  writeFileSync(script, `const grpc = require(${JSON.stringify(modulePath('@grpc/grpc-js'))});
const loader = require(${JSON.stringify(modulePath('@grpc/proto-loader'))});
const demo = grpc.loadPackageDefinition(loader.loadSync(${JSON.stringify(greeterProto(tmp))})).demo;
const s = new grpc.Server();
s.addService(demo.Greeter.service, {
  SayHello: (call, cb) => call.request.name === 'missing'
    ? cb({ code: grpc.status.NOT_FOUND, details: 'no user ' + call.request.name })
    : cb(null, { message: 'hello ' + call.request.name }),
});
const fs = require('node:fs');
const creds = ${tls ? `grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(${JSON.stringify(tls.cert)}), private_key: fs.readFileSync(${JSON.stringify(tls.key)}) }], false)` : 'grpc.ServerCredentials.createInsecure()'};
s.bindAsync('127.0.0.1:' + process.argv[2], creds, (err) => { if (err) { console.error(err.message); process.exit(1); } });
`);
  const port = await freePort();
  return serve([process.execPath, script, String(port)], port, 'grpc-js server');
}

/**
 * A stand-in for a Kafka broker (none is packaged): a Node TCP server that answers each
 * length-prefixed request with the response of its correlation id among `responses` (bytes
 * the test made), none for the others (a produce with acks=0).
 */
export async function kafkaReplay(tmp: string, responses: Buffer[]): Promise<Server> {
  const script = path.join(tmp, 'kafka-replay.cjs');
  writeFileSync(script, `const net = require('node:net');
const answers = new Map(process.argv.slice(3).map((h) => Buffer.from(h, 'hex')).map((b) => [b.readInt32BE(4), b]));
net.createServer((s) => {
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 12 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const answer = answers.get(buf.readInt32BE(8));
      buf = buf.subarray(4 + buf.readUInt32BE(0));
      if (answer) s.write(answer);
    }
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
`);
  const port = await freePort();
  return serve([process.execPath, script, String(port), ...responses.map((r) => r.toString('hex'))], port, 'kafka replay server');
}

/**
 * A @grpc/grpc-js client script: SayHello for ann, bob, missing, cid, missing in turn; prints the codes ("0,0,5,0,5").
 * Over TLS with `caCert` (the server's certificate, trusted as its own authority).
 */
export function grpcClient(tmp: string, port: number, caCert?: string): string {
  const script = path.join(tmp, caCert ? 'grpc-tls-client.cjs' : 'grpc-client.cjs');
  writeFileSync(script, `const grpc = require(${JSON.stringify(modulePath('@grpc/grpc-js'))});
const loader = require(${JSON.stringify(modulePath('@grpc/proto-loader'))});
const demo = grpc.loadPackageDefinition(loader.loadSync(${JSON.stringify(greeterProto(tmp))})).demo;
const c = new demo.Greeter('127.0.0.1:${port}', ${caCert ? `grpc.credentials.createSsl(require('node:fs').readFileSync(${JSON.stringify(caCert)}))` : 'grpc.credentials.createInsecure()'});
const call = (name) => new Promise((ok) => c.SayHello({ name }, (err) => ok(err ? err.code : 0)));
(async () => {
  const codes = [];
  for (const n of ['ann', 'bob', 'missing', 'cid', 'missing']) codes.push(await call(n));
  console.log(codes.join(','));
  c.close();
})();
`);
  return script;
}
/** Node's https server (its own static OpenSSL): /ok 200, else 404. */
export async function nodeHttps(tmp: string, tls: { cert: string; key: string }): Promise<Server> {
  const script = path.join(tmp, 'https-server.cjs');
  writeFileSync(script, `const fs = require('fs');
require('https').createServer({ cert: fs.readFileSync(process.argv[3]), key: fs.readFileSync(process.argv[4]) }, (req, res) => {
  res.writeHead(req.url === '/ok' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/ok' ? 'ok' : 'no');
}).listen(Number(process.argv[2]), '127.0.0.1');
`);
  const port = await freePort();
  return serve([process.execPath, script, String(port), tls.cert, tls.key], port, 'node https');
}

/**
 * A Go HTTPS server built here with Debian's Go (standard library only, no
 * network; HTTP/1.1 only): /missing 404, /count the requests served before it, else 200.
 * Returns the executable (`ldflags` given: another, built with them); goHttps starts it.
 */
export function buildGoHttps(tmp: string, ldflags = ''): string {
  const dir = path.join(tmp, 'gohttps');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'go.mod'), 'module gohttps\n\ngo 1.17\n');
  writeFileSync(path.join(dir, 'main.go'), `package main

import (
\t"crypto/tls"
\t"fmt"
\t"net/http"
\t"os"
\t"sync/atomic"
)

func main() {
\tvar served int64
\tmux := http.NewServeMux()
\tmux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
\t\tfmt.Fprintf(w, "%d", atomic.LoadInt64(&served))
\t})
\tmux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
\t\tatomic.AddInt64(&served, 1)
\t\tif r.URL.Path == "/missing" {
\t\t\thttp.NotFound(w, r)
\t\t\treturn
\t\t}
\t\tw.Write([]byte("hello"))
\t})
\tsrv := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: mux,
\t\tTLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
\tif err := srv.ListenAndServeTLS(os.Args[2], os.Args[3]); err != nil {
\t\tfmt.Fprintln(os.Stderr, err)
\t\tos.Exit(1)
\t}
}
`);
  const exe = path.join(dir, ldflags ? `gohttps${ldflags.replace(/[^a-z]/g, '')}` : 'gohttps');
  const env = { ...process.env, GOCACHE: path.join(dir, 'cache'), GOPATH: path.join(dir, 'gopath'), GOFLAGS: '-mod=mod',
    GOPROXY: 'off', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  const b = spawnSync('go', ['build', ...(ldflags ? [`-ldflags=${ldflags}`] : []), '-o', exe, '.'], { cwd: dir, env, encoding: 'utf8', timeout: 300_000 });
  if (b.status !== 0) throw new Error(`go build failed: ${b.stderr}${b.error?.message ?? ''}`);
  return exe;
}

/** Starts the server buildGoHttps built, with this certificate. */
export async function goHttps(exe: string, tls: { cert: string; key: string }): Promise<Server> {
  const port = await freePort();
  return serve([exe, String(port), tls.cert, tls.key], port, 'go https');
}
