// Field masks: the JSON fields a consumer wants, as protobuf's FieldMask and
// Tetragon's field filters name them ("process.binary,process.pid,path").
// Paths are relative to the event under its kind key (`{"file":{...}}`,
// `{"process_exec":{...}}`, `{"flow":{...}}`), or to the alert for Falco's
// shape; the envelope's node_name and time stay, and so do lost records (a
// mask never hides a loss). A path that names an object keeps all of it; a
// path that names nothing in an event keeps nothing for it.

/** One level of a mask: each kept key, with the mask below it, or true for the whole value. */
type Level = Map<string, Level | true>;

const SEGMENT = /^[a-z][a-z0-9_]*$/;

export class FieldMaskError extends Error {
  override readonly name = 'FieldMaskError';
}

export class FieldMask {
  private constructor(private readonly root: Level, readonly text: string) {}

  /** Parses "a.b,c" (comma-separated dotted paths of snake_case names). Throws FieldMaskError saying which path is wrong. */
  static parse(list: string): FieldMask {
    const root: Level = new Map();
    const paths = list.split(',').map((p) => p.trim());
    if (paths.every((p) => p === '')) throw new FieldMaskError('expected dotted field paths, e.g. process.binary,process.pid,path');
    for (const p of paths) {
      const segments = p.split('.');
      const bad = segments.find((s) => !SEGMENT.test(s));
      if (bad !== undefined) {
        throw new FieldMaskError(`"${p}": ${bad === '' ? 'an empty name' : `"${bad}" is not a field name (lower-case letters, digits, _)`}`);
      }
      let level = root;
      for (const [i, s] of segments.entries()) {
        const last = i === segments.length - 1;
        const have = level.get(s);
        if (have === true) break;
        if (last) {
          level.set(s, true);
          break;
        }
        let next = have;
        if (!next) level.set(s, (next = new Map()));
        level = next;
      }
    }
    return new FieldMask(root, paths.join(','));
  }

  /** What the mask keeps of field `key`: all of it (true), part of it (a mask), or nothing. */
  field(key: string): FieldMask | true | undefined {
    const sub = this.root.get(key);
    if (sub === undefined || sub === true) return sub;
    // The same object every time: the formatter's text caches know a masked process by its mask.
    let m = this.subMasks.get(key);
    if (m === undefined) this.subMasks.set(key, m = new FieldMask(sub, key));
    return m;
  }

  private readonly subMasks = new Map<string, FieldMask>();

  /** The fields of `value` the mask keeps (a new object; arrays are masked element by element). */
  apply(value: unknown): unknown {
    return applyLevel(this.root, value);
  }
}

function applyLevel(level: Level, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => applyLevel(level, v));
  if (value === null || typeof value !== 'object') return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of level) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (sub === true) {
      out[key] = v;
      continue;
    }
    const masked = applyLevel(sub, v);
    if (masked !== undefined) out[key] = masked;
  }
  return out;
}

/**
 * A JSON line of one of the enveloped shapes (`{"<kind>":{...},"node_name":..,"time":..}`),
 * masked: the kind's object through the mask, the other top-level fields as they are.
 * For lines built elsewhere as text; the Tetragon formatter masks while it builds.
 */
export function maskEnvelopeLine(line: string, mask: FieldMask, kindKeys: ReadonlySet<string>): string {
  const obj = JSON.parse(line) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = kindKeys.has(k) ? mask.apply(v) ?? {} : v;
  return JSON.stringify(out);
}
