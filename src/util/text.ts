// Line-oriented kernel texts (/proc, tracefs): one record a line.

/** Each line of text parsed; the lines that parse to nothing (blank, malformed) are skipped. */
export function parseLines<T>(text: string, parse: (line: string) => T | undefined): T[] {
  const out: T[] = [];
  for (const line of text.split('\n')) {
    const r = parse(line);
    if (r !== undefined) out.push(r);
  }
  return out;
}
