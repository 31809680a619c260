// Typed errors of the runtime. Each says what failed, where and why.
import { errnoName } from '../kernel/errno.js';

export { errnoName };

/** A failed kernel or libbpf operation, with its errno. */
export class BpfError extends Error {
  override readonly name: string = 'BpfError';
  constructor(
    message: string,
    readonly errno: number,
    readonly op: string,
    readonly log = '',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get code(): string {
    return errnoName(this.errno);
  }
}

/** The verifier refused a program. `log` is the whole log. */
export class VerifierError extends BpfError {
  override readonly name = 'VerifierError';
  readonly summary: string;
  constructor(
    readonly objectName: string,
    readonly programName: string | undefined,
    errno: number,
    log: string,
    options?: { cause?: unknown },
  ) {
    const summary = summarizeVerifierLog(log);
    super(
      `load ${objectName}${programName ? `/${programName}` : ''}: ${errnoName(errno)}: ${summary}`,
      errno,
      'bpf_object__load',
      log,
      options,
    );
    this.summary = summary;
  }
}

/** The kernel lacks a feature. Names the feature and the kernel that has it. */
export class NotSupportedError extends Error {
  override readonly name = 'NotSupportedError';
  constructor(
    readonly feature: string,
    readonly reason: string,
    readonly sinceKernel?: string,
    options?: { cause?: unknown },
  ) {
    super(`${feature} is not supported by this kernel: ${reason}` +
      (sinceKernel ? ` (available on Linux >= ${sinceKernel} built with it enabled)` : ''), options);
  }
}

/** Turns a thrown native error into a typed one. */
export function fromNative(e: unknown, context?: string): Error {
  if (e instanceof Error && typeof (e as { errno?: unknown }).errno === 'number') {
    const ne = e as Error & { errno: number; op?: string; log?: string };
    const msg = context ? `${context}: ${ne.message}` : ne.message;
    const log = ne.log ?? '';
    return new BpfError(log.trim() ? `${msg}\n${lastLines(log, 5)}` : msg, ne.errno, ne.op ?? 'unknown', log, { cause: e });
  }
  return e instanceof Error ? e : new Error(String(e));
}

function lastLines(log: string, n: number): string {
  return log.trimEnd().split('\n').slice(-n).join('\n');
}

const noise = [
  /^-- (BEGIN|END) PROG LOAD LOG --$/,
  /^processed \d+ insns/,
  /^libbpf: prog '.*': failed to load: /,
  /^libbpf: failed to load object/,
  /^libbpf: failed to load program/,
  /^verification time/,
  /^stack depth/,
  /^\s*$/,
];

/**
 * The verifier's reason, in one line: the last lines of the log that are not
 * bookkeeping (instruction counts, load banners). The last meaningful line is
 * usually the reason ("R1 invalid mem access 'scalar'"); the instruction
 * before it gives the place.
 */
export function summarizeVerifierLog(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.replace(/^libbpf: prog '[^']*': -- (BEGIN|END) PROG LOAD LOG --$/, '').trim())
    .filter((l) => !noise.some((re) => re.test(l)));
  if (lines.length === 0) return 'no verifier log';
  const last = lines[lines.length - 1] ?? '';
  const prev = lines.length > 1 ? lines[lines.length - 2] ?? '' : '';
  const insn = /^\d+: \(/.test(prev) ? `${prev} -> ` : '';
  return `${insn}${last}`.slice(0, 300);
}
