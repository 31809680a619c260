// Where things are in rules files, and what is wrong with them.
//
// Every error and warning names file:line:column and, when it concerns one,
// the item (rule, macro, list) and key. Positions inside a condition map back
// to the YAML file through SourceText, so "proc.nmae" in the third line of a
// folded block scalar is reported on that line, at that column.

export interface SourcePos {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
}

export type ItemKind = 'rule' | 'macro' | 'list' | 'required_engine_version' | 'required_plugin_versions' | 'item';

export interface ItemRef {
  readonly kind: ItemKind;
  readonly name: string;
}

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  /** Falco's load-result code where one exists (LOAD_UNKNOWN_SOURCE, LOAD_ERR_COMPILE_CONDITION, ...). */
  readonly code: string;
  readonly message: string;
  readonly pos?: SourcePos;
  readonly item?: ItemRef;
  readonly key?: string;
}

export function formatPos(p: SourcePos | undefined): string {
  return p ? `${p.file}:${p.line}:${p.col}` : '<unknown>';
}

/** "file:3:5: warning: rule 'X' key 'foo': message". */
export function formatDiagnostic(d: Diagnostic): string {
  const subject = [
    d.item ? (d.item.name ? `${d.item.kind} '${d.item.name}'` : d.item.kind) : '',
    d.key ? `key '${d.key}'` : '',
  ].filter(Boolean).join(' ');
  return `${formatPos(d.pos)}: ${d.severity}: ${subject ? `${subject}: ` : ''}${d.message}`;
}

/** A rules file (or set of files) that cannot be loaded: the first error, with all diagnostics so far. */
export class RulesLoadError extends Error {
  override readonly name = 'RulesLoadError';
  constructor(
    readonly diagnostics: readonly Diagnostic[],
  ) {
    const first = diagnostics.find((d) => d.severity === 'error');
    super(first ? formatDiagnostic(first) : 'rules failed to load');
  }
  get errors(): Diagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'error');
  }
}

/** One contiguous piece of a condition's text and where it came from. */
interface Segment {
  /** Offset of the piece in the composed text. */
  readonly start: number;
  readonly length: number;
  /** Maps an offset within the piece to a file position. */
  readonly locate: (offset: number) => SourcePos;
}

/**
 * A condition's text with a map back to the files it came from. Conditions
 * are composed (appends join pieces of several files with a space), so the map
 * is a list of segments.
 */
export class SourceText {
  private constructor(
    readonly text: string,
    private readonly segments: readonly Segment[],
  ) {}

  /** A piece of text from one place: each offset maps through locate. */
  static of(text: string, locate: (offset: number) => SourcePos): SourceText {
    return new SourceText(text, [{ start: 0, length: text.length, locate }]);
  }

  /** Text with no file behind it (tests, the CLI's -c): positions are line:col in the text itself. */
  static plain(text: string, file = '<condition>'): SourceText {
    const starts = lineStarts(text);
    return SourceText.of(text, (off) => {
      const line = lineOf(starts, off);
      return { file, line: line + 1, col: off - starts[line]! + 1 };
    });
  }

  /** This text, a space, then other (how Falco appends conditions). */
  concat(other: SourceText): SourceText {
    const base = this.text.length + 1;
    return new SourceText(`${this.text} ${other.text}`, [
      ...this.segments,
      ...other.segments.map((s) => ({ ...s, start: s.start + base })),
    ]);
  }

  /** The file position of an offset in the text (clamped to the nearest piece). */
  pos(offset: number): SourcePos {
    let seg = this.segments[0]!;
    for (const s of this.segments) {
      if (offset >= s.start) seg = s;
    }
    const local = Math.max(0, Math.min(offset - seg.start, seg.length));
    return seg.locate(local);
  }
}

export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

export function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
