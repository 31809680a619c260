// Small network helpers shared by the benchmarks and tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A free loopback TCP port, for a server that must be told its port (vigil's --metrics address). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
