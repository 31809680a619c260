// Falco's glob and iglob operators: fnmatch(3) with no flags (or FNM_CASEFOLD),
// compiled once to a RegExp. With no FNM_PATHNAME, '*' also matches '/'.

const CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9', alpha: 'a-zA-Z', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f', digit: '0-9',
  graph: '\\x21-\\x7e', lower: 'a-z', print: '\\x20-\\x7e', punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v', upper: 'A-Z', xdigit: '0-9A-Fa-f',
};

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** The bracket expression starting at pattern[i] === '['; undefined if it never closes (then '[' is literal). */
function bracket(p: string, i: number): { re: string; end: number } | undefined {
  let j = i + 1;
  let negate = false;
  if (p[j] === '!' || p[j] === '^') {
    negate = true;
    j++;
  }
  let body = '';
  let first = true;
  while (j < p.length) {
    const c = p[j]!;
    if (c === ']' && !first) return { re: `[${negate ? '^' : ''}${body}]`, end: j };
    first = false;
    if (c === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      const cls = close > 0 ? CLASSES[p.slice(j + 2, close)] : undefined;
      if (cls !== undefined) {
        body += cls;
        j = close + 2;
        continue;
      }
    }
    if (c === '\\' && j + 1 < p.length) {
      body += escapeRe(p[j + 1]!);
      j += 2;
      continue;
    }
    if (p[j + 1] === '-' && j + 2 < p.length && p[j + 2] !== ']') {
      body += `${escapeRe(c)}-${escapeRe(p[j + 2]!)}`;
      j += 3;
      continue;
    }
    body += escapeRe(c);
    j++;
  }
  return undefined;
}

export function globToRegExp(pattern: string, caseInsensitive = false): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      re += '[^]*';
    } else if (c === '?') {
      re += '[^]';
    } else if (c === '[') {
      const b = bracket(pattern, i);
      if (b) {
        re += b.re;
        i = b.end;
      } else {
        re += '\\[';
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(`^${re}$`, caseInsensitive ? 'i' : '');
}
