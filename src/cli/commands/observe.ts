// vigil observe: stream kernel events to stdout until interrupted, a duration
// passes or a count is reached.
import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { UsageError } from '../command.js';
import { ensureTracefs, NotSupportedError } from '../../bpf/index.js';
import { ExecSensor } from '../../sensors/exec.js';
import type { SensorEvent } from '../../sensors/events.js';
import { OUTPUT_FORMATS, TetragonFormatter, type OutputFormat } from '../../output/tetragon.js';
import { BatchWriter } from '../../output/batch.js';

const SENSORS = ['exec'] as const;
type SensorName = (typeof SENSORS)[number];

const usage = `usage: vigil observe [--sensors exec] [--output compact|json] [--duration S] [--count N]

Streams events from the kernel to stdout, one line each, until Ctrl-C (SIGINT),
SIGTERM, S seconds, or N events.

options:
  --sensors LIST    comma-separated sensors to run (default: exec)
                      exec  every successful execve/execveat on the host
  --output FORMAT   compact (default): 🚀 process <pid> <binary> <args>
                    json: one Tetragon-shaped JSON object per line
                      {"process_exec":{"process":{...},"parent":{...}},"node_name":..,"time":..}
  --duration S      stop after S seconds (decimals allowed)
  --count N         stop after N events
  -h, --help

Events the kernel had to drop (ring buffer full) are reported on stderr as
they happen and in a final "lost N events" line.`;

function parseSensors(list: string): SensorName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`--sensors: empty list; available: ${SENSORS.join(', ')}`);
  for (const n of names) {
    if (!(SENSORS as readonly string[]).includes(n)) {
      throw new UsageError(`--sensors: unknown sensor "${n}"; available: ${SENSORS.join(', ')}`);
    }
  }
  return [...new Set(names)] as SensorName[];
}

function positive(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  }
  return n;
}

export const command: Command = {
  name: 'observe',
  summary: 'stream events from the kernel (process executions, ...)',
  usage,
  async run(argv: string[]): Promise<number> {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          sensors: { type: 'string', default: 'exec' },
          output: { type: 'string', short: 'o', default: 'compact' },
          duration: { type: 'string' },
          count: { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const sensors = parseSensors(values.sensors);
    if (!(OUTPUT_FORMATS as readonly string[]).includes(values.output)) {
      throw new UsageError(`--output: unknown format "${values.output}"; available: ${OUTPUT_FORMATS.join(', ')}`);
    }
    const format = values.output as OutputFormat;
    const duration = positive('--duration', values.duration, false);
    const count = positive('--count', values.count, true);

    // Tracepoints attach through tracefs, which is not always mounted at boot.
    const tracefs = ensureTracefs();
    if (!tracefs.path) throw new NotSupportedError('tracefs', tracefs.reason ?? 'tracefs is not mounted');

    const formatter = new TetragonFormatter(format);
    let stop!: (why: string) => void;
    const stopped = new Promise<string>((resolve) => {
      stop = resolve;
    });
    const out = new BatchWriter(process.stdout, () => stop('stdout closed'));
    let seen = 0;
    const onEvent = (e: SensorEvent): void => {
      if (count !== undefined && seen >= count) return;
      out.push(formatter.line(e));
      if (count !== undefined && ++seen >= count) stop('count');
    };
    const onLost = (n: number): void => {
      process.stderr.write(`vigil observe: lost ${n} events (ring buffer full)\n`);
    };

    const running: ExecSensor[] = [];
    for (const name of sensors) {
      switch (name) {
        case 'exec':
          running.push(await ExecSensor.start({ onEvent, onLost, onBatchEnd: () => out.flush() }));
          break;
      }
    }

    const onSignal = (sig: NodeJS.Signals): void => stop(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const timer = duration !== undefined ? setTimeout(() => stop('duration'), duration * 1000) : undefined;
    // On stderr, so stdout stays pure events; also tells scripts the sensors are attached.
    process.stderr.write(`vigil observe: watching ${sensors.join(', ')}; Ctrl-C to stop\n`);

    await stopped;
    if (timer) clearTimeout(timer);
    // Detach first, then read what the rings still hold, then print.
    let lost = 0;
    for (const s of running) {
      s.close();
      lost += s.lost;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await out.end();
    if (lost > 0) process.stderr.write(`vigil observe: lost ${lost} events\n`);
    return 0;
  },
};
