// Errors of compile(): what clang said, at the user's line and column.

/** One message of the compiler, at a place in the user's source (or a header). */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning' | 'note' | 'fatal error';
  message: string;
}

/**
 * compile() failed: the source does not compile (`diagnostics` holds each
 * error with the user's line and column; `log` is clang's whole output with
 * the user's file name), a tool is missing (the message names the package
 * to install), or the cache is not safe to use.
 */
export class CompileError extends Error {
  override readonly name = 'CompileError';
  readonly diagnostics: readonly Diagnostic[];
  readonly log: string;
  constructor(message: string, o: { diagnostics: readonly Diagnostic[]; log?: string; cause?: unknown }) {
    super(message, { cause: o.cause });
    this.diagnostics = o.diagnostics;
    this.log = o.log ?? '';
  }
}

const DIAGNOSTIC = /^(.*?):(\d+):(\d+): (error|warning|note|fatal error): (.*)$/;

/**
 * Parses clang's diagnostics, naming `tempFile` as `userFile` and moving its
 * lines by `lineOffset` (where the C text starts in the user's file).
 */
export function parseDiagnostics(log: string, tempFile: string, userFile: string, lineOffset = 0): { diagnostics: Diagnostic[]; log: string } {
  const diagnostics: Diagnostic[] = [];
  const lines = log.split('\n').map((text) => {
    const m = DIAGNOSTIC.exec(text);
    if (!m) return text.split(tempFile).join(userFile);
    const own = m[1] === tempFile;
    const d: Diagnostic = {
      file: own ? userFile : m[1]!,
      line: Number(m[2]) + (own ? lineOffset : 0),
      column: Number(m[3]),
      severity: m[4] as Diagnostic['severity'],
      message: m[5]!,
    };
    diagnostics.push(d);
    return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
  });
  // "In file included from /tmp/.../x.bpf.c:3:" and the like
  return { diagnostics, log: lines.join('\n') };
}

/** "FILE:LINE:COL: error: MESSAGE" for the first error, and how many more there are. */
export function describeDiagnostics(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error' || d.severity === 'fatal error');
  const first = errors[0] ?? diagnostics[0];
  if (!first) return 'clang failed without a diagnostic';
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
  return `${first.file}:${first.line}:${first.column}: ${first.severity}: ${first.message}${more}`;
}
