// Listen addresses (--metrics, the agent's config): "HOST:PORT", "[V6]:PORT",
// ":PORT" (every interface). Port 0 takes a free one (the URL says which).
import { isIP } from 'node:net';

export interface ListenAddress {
  /** undefined: every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

/** The address, or why it is not one. */
export function parseListenAddress(text: string): ListenAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return `expected HOST:PORT, [IPv6]:PORT or :PORT, got "${text}"`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && isIP(m[1]) !== 6) return `"${m[1]}" is not an IPv6 address`;
  if (host !== undefined && host !== '' && m[1] === undefined && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    return `"${host}" is not a host name or address`;
  }
  return { host: host === '' ? undefined : host, port };
}

/** The URL an address is reached at. */
export function addressUrl(host: string | undefined, port: number, path: string): string {
  const h = host === undefined ? '127.0.0.1' : isIP(host) === 6 ? `[${host}]` : host;
  return `http://${h}:${port}${path}`;
}
