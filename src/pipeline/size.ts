// Byte sizes as flags take them: "16MiB", "512KiB", "1GiB", "64k", "1048576".
// Binary units only (a queue is memory); "M" and "MB" mean MiB here, as in
// most agents' buffer settings.

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1 << 10, kb: 1 << 10, kib: 1 << 10,
  m: 1 << 20, mb: 1 << 20, mib: 1 << 20,
  g: 1 << 30, gb: 1 << 30, gib: 1 << 30,
};

/** Bytes for `text`, or undefined when it is not a size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** "16 MiB", "512 KiB", "100 B": for messages. */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1 << 30], ['MiB', 1 << 20], ['KiB', 1 << 10]] as const) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} B`;
}
