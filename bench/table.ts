// Markdown tables and number formats for benchmark reports.

export type Align = 'left' | 'right';

export interface Column {
  title: string;
  align?: Align;
}

/** A GitHub-flavoured Markdown table; cells are padded so it also reads as plain text. */
export function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(3, c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (s: string, i: number): string =>
    columns[i]?.align === 'left' ? s.padEnd(widths[i]!) : s.padStart(widths[i]!);
  const line = (cells: readonly string[]): string => `| ${columns.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `|${columns.map((c, i) => (c.align === 'left' ? ':' + '-'.repeat(widths[i]! + 1) : '-'.repeat(widths[i]! + 1) + ':')).join('|')}|`;
  return [line(columns.map((c) => c.title)), rule, ...rows.map(line)].join('\n');
}

/** 1234567 -> "1,234,567". */
export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** Per-second rates: "4.76M", "512k", "950". */
export function rate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function percent(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(0)}%` : '-';
}

export function ratio(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 10 ? `${n.toFixed(0)}x` : `${n.toFixed(2)}x`;
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 10 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
}

export function bytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}
