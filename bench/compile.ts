// How long compile() takes a C program (examples/syscall-counter.ts's) from
// text to a loadable, signed object: cold (a fresh cache directory: clang, and
// vmlinux.h made from the kernel's BTF) and cached (the same text again: no
// clang). Runs in pairs; medians with the range.
//
//   node dist/bench/compile.js [--runs N]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../src/inline/index.js';
import { intFlag, runAsScript } from './script.js';

const SOURCE = `
VIGIL_HASH(counts, u32, u64, 10240);

TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
	u32 pid = vigil_pid();
	vigil_map_add(&counts, &pid, 1);
	return 0;
}
`;

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms (${s[0]!.toFixed(1)}..${s.at(-1)!.toFixed(1)})`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
  const runs = intFlag('runs', values.runs, 1);
  const cold: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-compile-'));
    try {
      const source = `${SOURCE}// run ${i}\n`;
      let t = performance.now();
      await compile(source, { cacheDir, name: 'syscall_counter' });
      cold.push(performance.now() - t);
      t = performance.now();
      await compile(source, { cacheDir, name: 'syscall_counter' });
      cached.push(performance.now() - t);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  process.stdout.write(`compile() of the syscall counter, ${runs} runs\ncold:   ${summary(cold)}\ncached: ${summary(cached)}\n`);
}

runAsScript(import.meta, 'compile', main);
