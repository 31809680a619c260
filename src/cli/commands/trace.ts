// vigil trace FILE.bpf.c: a BPF C script compiled against the running kernel
// (compile(), vigil/lib.h in front), loaded, every program attached by its
// section, its maps printed every --interval and when it stops.
import { existsSync, statSync } from 'node:fs';
import { parseFlags, positive } from '../flags.js';
import type { Command } from '../command.js';
import { explainingErrors, UsageError } from '../command.js';
import { requireCapabilities } from '../privileges.js';
import { Shutdown } from '../shutdown.js';
import { compileFile, CompileError, formatMap } from '../../inline/index.js';
import type { Attachment } from '../../bpf/index.js';

const usage = `usage: vigil trace FILE.bpf.c [--duration S] [--interval S] [--frequency HZ] [-D NAME[=VALUE]]...
                   [--top N]

Compiles FILE, BPF C, against the running kernel's BTF (CO-RE: no kernel
headers; vigil/lib.h comes first, with TRACEPOINT_PROBE, SYSCALL_ENTER_PROBE,
VIGIL_HASH, VIGIL_HISTOGRAM and the rest: docs/library.md), loads it and
attaches every program by its section: tracepoint/CAT/NAME, raw_tracepoint/NAME,
kprobe/FN, fentry/FN, lsm/HOOK (where the kernel has them), and perf_event
(CPU-clock sampling on every CPU at --frequency). Then prints its maps: every
--interval seconds, and once more when it stops (Ctrl-C, --duration). A hash
or array map prints as "key => value" lines, largest value first; an array of
__u64 whose name ends in "hist" prints as a log2 histogram.

Objects are cached by content (VIGIL_CACHE_DIR, else $XDG_CACHE_HOME/vigil or
~/.cache/vigil): a script compiled once starts without running clang. A
compiler error is one line, FILE:LINE:COL, and exit status 2.

options:
  --duration S     stop after S seconds (default: at Ctrl-C)
  --interval S     print the maps every S seconds too
  --frequency HZ   samples per second per CPU for perf_event programs (default 99)
  -D NAME[=VALUE]  define a macro for the script (repeatable)
  --top N          print at most N entries of each map (default 20)
  -h, --help`;

export const command: Command = {
  name: 'trace',
  summary: 'compile and run a BPF C script (bcc-style), printing its maps',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseFlags({
      args: argv,
      allowPositionals: true,
      options: {
        duration: { type: 'string' },
        interval: { type: 'string' },
        frequency: { type: 'string' },
        define: { type: 'string', short: 'D', multiple: true },
        top: { type: 'string' },
      },
    });
    if (positionals.length === 0) throw new UsageError('give the script: vigil trace FILE.bpf.c');
    if (positionals.length > 1) throw new UsageError(`one script at a time, got ${positionals.length}: ${positionals.join(' ')}`);
    const file = positionals[0]!;
    if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file`);
    const duration = positive('--duration', values.duration, false);
    const interval = positive('--interval', values.interval, false);
    const frequency = positive('--frequency', values.frequency, true) ?? 99;
    const top = positive('--top', values.top, true) ?? 20;
    const defines: Record<string, string | true> = {};
    for (const d of values.define ?? []) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/s.exec(d);
      if (!m) throw new UsageError(`-D ${d}: expected NAME or NAME=VALUE`);
      defines[m[1]!] = m[2] ?? true;
    }
    requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['trace', ...argv]);

    let spec;
    try {
      spec = await compileFile(file, { defines });
    } catch (e) {
      // The script's own mistakes are bad input: one line at its file, line and column, status 2.
      if (e instanceof CompileError && e.diagnostics.length) throw new UsageError(e.message, { cause: e });
      // A missing tool (named with its package) or an unsafe cache: its one line, status 1.
      return explainingErrors('trace', [CompileError], () => Promise.reject(e));
    }
    if (spec.programs.size === 0) throw new UsageError(`${file}: no programs (a function in a SEC("...") section)`);
    using obj = await spec.load();
    const attachments: Attachment[] = [];
    using shutdown = new Shutdown('trace');
    try {
      for (const p of spec.programs.values()) {
        const prog = obj.program(p.name);
        attachments.push(p.section === 'perf_event' ? prog.attachPerfSampling({ frequency }) : prog.attach());
      }
    } catch (e) {
      for (const a of attachments) a.close();
      throw e;
    }
    process.stderr.write(`vigil trace: ${file}: ${attachments.map((a) => a.description).join(', ')}; ` +
      `${duration ? `for ${duration} s` : 'Ctrl-C to stop'}\n`);
    const print = (): void => {
      const parts = [...obj.maps.values()].map((m) => formatMap(m, { top })).filter((s): s is string => s !== undefined);
      if (parts.length) process.stdout.write(`${parts.join('\n')}\n`);
    };
    const timers: NodeJS.Timeout[] = [setInterval(() => {}, 1 << 30)]; // signal handlers alone do not keep node running
    if (duration) timers.push(setTimeout(() => shutdown.stop('duration'), duration * 1000));
    if (interval) timers.push(setInterval(() => { print(); process.stdout.write('\n'); }, interval * 1000));
    await shutdown.stopped;
    for (const t of timers) clearTimeout(t);
    await shutdown.close(() => { for (const a of attachments) a.close(); });
    print();
    return 0;
  },
};
