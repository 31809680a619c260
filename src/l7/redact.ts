// Privacy by default: what the L7 records never carry unless full capture is
// asked for. Applied to the parsed fields before a record exists, so no
// output (JSON, compact, OTLP, a file) ever sees the values.

/** Headers whose values are credentials. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie',
  'x-api-key', 'x-auth-token']);

export const REDACTED = '[redacted]';

/** A header's value as a record may carry it. Pure. */
export function redactHeader(name: string, value: string): string {
  return SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
}

/** "/a?x=1&y=&z" → "/a?x=?&y=?&z": query-string values replaced, names kept. Pure. */
export function redactQuery(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const hash = target.indexOf('#', q);
  const query = target.slice(q + 1, hash < 0 ? undefined : hash);
  const parts = query.split('&').map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? p : `${p.slice(0, eq)}=?`;
  });
  return `${target.slice(0, q)}?${parts.join('&')}`;
}

/**
 * SQL with its literals replaced by "?": strings ('...', E'...', $tag$...$tag$)
 * and numbers; identifiers ("quoted" too), keywords and parameters ($1) stay.
 * Comments are dropped. Pure.
 */
export function redactSql(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  const identChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? n : e;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === '"') {
      const e = sql.indexOf('"', i + 1);
      const end = e < 0 ? n : e + 1;
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (c === '\'' || ((c === 'E' || c === 'e') && sql[i + 1] === '\'' && !identChar(sql[i - 1]))) {
      let j = c === '\'' ? i + 1 : i + 2;
      const escapes = c !== '\'';
      while (j < n) {
        if (escapes && sql[j] === '\\') {
          j += 2;
          continue;
        }
        if (sql[j] === '\'') {
          if (sql[j + 1] === '\'') {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      out += '?';
      i = j + 1;
      continue;
    }
    if (c === '$' && !identChar(sql[i - 1])) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const e = sql.indexOf(m[0], i + m[0].length);
        out += '?';
        i = e < 0 ? n : e + m[0].length;
        continue;
      }
      const p = /^\$\d+/.exec(sql.slice(i, i + 12));
      if (p) {
        out += p[0];
        i += p[0].length;
        continue;
      }
    }
    if (/[0-9]/.test(c) && !identChar(sql[i - 1])) {
      const m = /^(?:0x[0-9A-Fa-f]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)/.exec(sql.slice(i, i + 64))!;
      out += '?';
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}
