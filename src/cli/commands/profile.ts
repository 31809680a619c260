// vigil profile: sampled CPU (or off-CPU) profiles with symbolised stacks, as
// folded stacks, an interactive flame graph, pprof or JSON; once or
// continuously into a directory of bounded size.
import { requireCapabilities } from '../privileges.js';
import { parseFlags } from '../flags.js';
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import type { FilterOptions } from '../../sensors/filter.js';
import { containerCgroupIds, containerCgroups, ContainerLookupError } from '../../process/container.js';
import { DEFAULT_FREQUENCY, MAX_FREQUENCY, type SamplerCounters } from '../../profile/sampler.js';
import { Profiler } from '../../profile/profiler.js';
import { totals, type Profile } from '../../profile/profile.js';
import { formatOfFile, isOutputFormat, OUTPUT_FORMATS, render, type OutputFormat } from '../../profile/output.js';
import { DEFAULT_MAX_FILES, runContinuous } from '../../profile/continuous.js';
import { EventPipeline } from '../../pipeline/index.js';
import { Shutdown } from '../shutdown.js';

const usage = `usage: vigil profile [--duration S] [--frequency HZ] [--output FORMAT] [-o FILE]
                     [--pid N [--follow-children]] [--comm NAME] [--container ID] [--off-cpu]
       vigil profile --continuous --dir DIR [--interval 10s] [--max-files N | --max-bytes B] [...]

Samples the stacks of what runs on every CPU (user and kernel, through frame
pointers), counts them in the kernel and symbolises them in user space.

options:
  --duration S        profile for S seconds (default 10; Ctrl-C ends it early)
  --frequency HZ      samples per second per CPU, 1..${MAX_FREQUENCY} (default ${DEFAULT_FREQUENCY})
  --output FORMAT     ${OUTPUT_FORMATS.join(' | ')} (default: from -o's extension, else folded)
                        folded  Brendan Gregg's "process;frame;...;leaf count" lines
                        svg     interactive flame graph (search, click to zoom), self-contained
                        pprof   gzipped pprof protobuf (go tool pprof, Pyroscope, Parca)
                        json    every stack with its frames, addresses and counts
  -o, --output-file FILE  write there (default stdout)
  --pid N             only this process (repeatable)
  --follow-children   with --pid: its descendants too, forked before or during the profile
  --comm NAME         only threads with this name (repeatable)
  --container ID      only this container's processes (an id prefix); "host": outside every container
  --off-cpu           time threads spend off the CPU (blocked or waiting), from sched_switch,
                      instead of on-CPU samples; folded/svg values are microseconds
  --min-block US      with --off-cpu: ignore intervals shorter than US microseconds
  --include-idle      count samples of the idle task too
  --per-pid           keep processes of the same name apart (root frame "name [pid]")
  --no-threads        no thread-name frame under the process frame
  --title TEXT        flame graph title
  --stack-entries N   user stack map entries (default 8192; about 1 KiB of kernel memory each)
  --quiet             no summary on stderr

continuous:
  --continuous        one profile per interval, forever (until Ctrl-C / SIGTERM)
  --interval T        interval: 10s (default), 500ms, 2m
  --dir DIR           where the files go: vigil-profile-<UTC time>.<ext> (default format pprof)
  --max-files N       keep at most N profiles (default ${DEFAULT_MAX_FILES} when --max-bytes is not given)
  --max-bytes B       keep at most B bytes of profiles (suffixes K, M, G); the oldest go first`;

function num(flag: string, v: string | undefined, opts: { integer?: boolean; min?: number; max?: number } = {}):
  number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) ||
      (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    const range = opts.min !== undefined || opts.max !== undefined ? ` in ${opts.min ?? 0}..${opts.max ?? '∞'}` : '';
    throw new UsageError(`${flag}: expected ${opts.integer ? 'an integer' : 'a number'}${range}, got "${v}"`);
  }
  return n;
}

/** "10s", "500ms", "2m", "1h", or plain seconds. */
export function parseInterval(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--interval: expected a duration like 10s, 500ms or 2m, got "${v}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

/** "100M", "1G", "4096", "512KiB". */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--max-bytes: expected a size like 100M, got "${v}"`);
  const mult: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  return Math.floor(Number(m[1]) * mult[(m[2] ?? '').toUpperCase()]!);
}

function lostStacks(c: SamplerCounters): number {
  return c.userStackCollisions + c.kernelStackCollisions + c.userStackMapFull + c.kernelStackMapFull +
    c.stackErrors + c.stacksMissing;
}

function summary(p: Profile, where: string): string {
  const t = totals(p);
  const c = p.counters;
  const secs = ((p.endMs - p.startMs) / 1000).toFixed(1);
  const what = p.mode === 'cpu' ? `${t.count} samples` : `${t.count} context switches, ${(t.ns / 1e6).toFixed(1)} ms off-CPU`;
  const parts = [`${what} in ${secs} s`, `${p.stacks.length} distinct stacks`];
  const lost = lostStacks(c);
  if (lost) parts.push(`${lost} stacks lost (map collisions/full; raise --stack-entries)`);
  if (c.countsMapFull) parts.push(`${c.countsMapFull} samples lost (counts map full)`);
  if (c.pidEventsLost) parts.push(`${c.pidEventsLost} new-process notices lost`);
  return `vigil profile: ${parts.join(', ')}; ${where}\n${p.warnings.map((w) => `vigil profile: warning: ${w}\n`).join('')}`;
}

export const command: Command = {
  name: 'profile',
  summary: 'CPU profiles (on- or off-CPU) as flame graphs, folded stacks, pprof',
  usage,
  async run(argv: string[]): Promise<number> {
    let values;
    try {
      ({ values } = parseFlags({
        args: argv,
        options: {
          duration: { type: 'string' },
          frequency: { type: 'string' },
          output: { type: 'string' },
          'output-file': { type: 'string', short: 'o' },
          pid: { type: 'string', multiple: true },
          'follow-children': { type: 'boolean' },
          comm: { type: 'string', multiple: true },
          container: { type: 'string' },
          'off-cpu': { type: 'boolean' },
          'min-block': { type: 'string' },
          'include-idle': { type: 'boolean' },
          'per-pid': { type: 'boolean' },
          'no-threads': { type: 'boolean' },
          title: { type: 'string' },
          'stack-entries': { type: 'string' },
          quiet: { type: 'boolean' },
          continuous: { type: 'boolean' },
          interval: { type: 'string' },
          dir: { type: 'string' },
          'max-files': { type: 'string' },
          'max-bytes': { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const frequency = num('--frequency', values.frequency, { integer: true, min: 1, max: MAX_FREQUENCY }) ??
      DEFAULT_FREQUENCY;
    const duration = num('--duration', values.duration, { min: 0.05 }) ?? 10;
    const outFile = values['output-file'];
    let format: OutputFormat;
    if (values.output !== undefined) {
      if (!isOutputFormat(values.output)) {
        throw new UsageError(`--output: unknown format "${values.output}"; available: ${OUTPUT_FORMATS.join(', ')}`);
      }
      format = values.output;
    } else {
      format = (outFile && formatOfFile(outFile)) || (values.continuous ? 'pprof' : 'folded');
    }
    const pids = (values.pid ?? []).map((p) => num('--pid', p, { integer: true, min: 1 })!);
    for (const p of pids) if (!existsSync(`/proc/${p}`)) throw new UsageError(`--pid ${p}: no such process`);
    if (values['follow-children'] && pids.length === 0) throw new UsageError('--follow-children needs --pid');
    const filter: FilterOptions = {};
    if (pids.length) {
      filter.pids = pids;
      filter.followChildren = !!values['follow-children'];
    }
    if (values.comm?.length) filter.comms = values.comm;
    if (values.container !== undefined) {
      try {
        if (values.container === 'host') {
          filter.cgroupIds = containerCgroups().map((c) => c.id);
          filter.notInCgroups = true;
        } else {
          filter.cgroupIds = containerCgroupIds(values.container);
        }
      } catch (e) {
        if (e instanceof ContainerLookupError) throw new UsageError(`--container: ${e.message}`);
        throw e;
      }
    }
    const offCpu = !!values['off-cpu'];
    if (values['min-block'] !== undefined && !offCpu) throw new UsageError('--min-block needs --off-cpu');
    const minBlockUs = num('--min-block', values['min-block'], { min: 0 }) ?? 0;
    const stackEntries = num('--stack-entries', values['stack-entries'], { integer: true, min: 256, max: 1 << 20 });
    const renderOpts = { perPid: !!values['per-pid'], noThreads: !!values['no-threads'],
      ...(values.title !== undefined ? { title: values.title } : {}) };
    const quiet = !!values.quiet;

    if (values.continuous) {
      if (!values.dir) throw new UsageError('--continuous needs --dir DIR');
      if (outFile) throw new UsageError('--continuous writes into --dir, not -o');
      if (values.duration !== undefined) throw new UsageError('--continuous runs until stopped: no --duration');
    } else {
      for (const f of ['interval', 'dir', 'max-files', 'max-bytes'] as const) {
        if (values[f] !== undefined) throw new UsageError(`--${f} needs --continuous`);
      }
      if (format === 'pprof' && !outFile && process.stdout.isTTY) {
        throw new UsageError('pprof output is binary: give -o FILE (or redirect stdout)');
      }
    }
    const intervalMs = values.interval !== undefined ? parseInterval(values.interval) : 10_000;
    if (intervalMs < 100) throw new UsageError('--interval: at least 100ms');
    const maxFiles = num('--max-files', values['max-files'], { integer: true, min: 1 });
    const maxBytes = values['max-bytes'] !== undefined ? parseBytes(values['max-bytes']) : undefined;

    requireCapabilities('', ['CAP_BPF', 'CAP_PERFMON'], ['profile', ...argv]);
    const profiler = await Profiler.start({
      mode: offCpu ? 'off-cpu' : 'cpu',
      frequency,
      filter,
      includeIdle: !!values['include-idle'],
      minBlockNs: minBlockUs * 1000,
      ...(stackEntries !== undefined ? { stackEntries } : {}),
    });
    // A signal stops sampling (a second one exits at once); the profile so far is written, then every
    // link is detached at once. The pipeline drains the sampler's ring (processes to capture for symbols).
    using shutdown = new Shutdown('profile');
    const abort = new AbortController();
    void shutdown.stopped.then(() => abort.abort());
    const pipeline = new EventPipeline<never>({
      reorder: false, timeOf: () => 0n, sensorOf: () => 'profile', now: () => 0n,
      report: (line) => void process.stderr.write(`vigil profile: ${line}\n`),
    });
    pipeline.addSource(profiler.sampler.name, profiler.sampler);
    pipeline.start();
    try {
      if (values.continuous) {
        const dir = values.dir!;
        if (!quiet) {
          process.stderr.write(`vigil profile: continuous, ${format} every ${intervalMs / 1000} s into ${dir}` +
            ` (keeping ${maxBytes !== undefined ? `${maxBytes} bytes` : ''}${maxBytes !== undefined && maxFiles ? ', ' : ''}` +
            `${maxFiles !== undefined ? `${maxFiles} files` : maxBytes === undefined ? `${DEFAULT_MAX_FILES} files` : ''}` +
            `); Ctrl-C to stop\n`);
        }
        await runContinuous(profiler, {
          dir, intervalMs, format, render: renderOpts, signal: abort.signal,
          ...(maxFiles !== undefined ? { maxFiles } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}),
          onWrite: (file, bytes, p, removed) => {
            if (!quiet) {
              process.stderr.write(summary(p, `${file} (${bytes} bytes)` +
                (removed.length ? `, removed ${removed.length} old` : '')));
            }
          },
        });
        return 0;
      }
      if (!quiet) {
        process.stderr.write(`vigil profile: ${offCpu ? 'off-CPU time' : `sampling at ${frequency} Hz`} for ` +
          `${duration} s; Ctrl-C to stop early\n`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, duration * 1000);
        abort.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      await profiler.settle();
      const p = profiler.cut();
      const data = render(p, format, renderOpts);
      if (outFile) writeFileSync(outFile, data);
      else {
        // A reader that went away (`| head`) is not an error of ours.
        await new Promise<void>((resolve, reject) => {
          const onError = (e: NodeJS.ErrnoException): void => (e.code === 'EPIPE' ? resolve() : reject(e));
          process.stdout.once('error', onError);
          process.stdout.write(data, (e) => {
            process.stdout.off('error', onError);
            if (e && (e as NodeJS.ErrnoException).code !== 'EPIPE') reject(e);
            else resolve();
          });
        });
      }
      if (!quiet) process.stderr.write(summary(p, outFile ? `${format} written to ${outFile}` : `${format} on stdout`));
      return 0;
    } finally {
      await shutdown.close(() => profiler.close());
      await pipeline.close(0);
    }
  },
};
