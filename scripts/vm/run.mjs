#!/usr/bin/env node
// The kernel matrix (npm run test:kernels): runs the tier's test files
// (test/vm/tier.txt) in a QEMU VM for each Debian kernel below and directly
// on the host kernel, then prints and writes (.vm/report.txt) a report per
// kernel: release, tests passed/skipped/failed, wall time, and what
// `vigil features --json` found there. Exits non-zero when a kernel fails:
// a test failed, the VM did not report (crash, timeout), or a VM kernel does
// not offer an attach kind it is expected to (so its tests did not skip).
//
//   node scripts/vm/run.mjs [--kernels 6.1,6.12,host] [--timeout MINUTES]
//                           [--tier FILE] [--only SUBSTRING] [--exec 'COMMAND']
//
// --exec runs a shell command in each VM (in /vigil) instead of the tests,
// for debugging there: its output is on the console, its status is the VM's.
//
// QEMU runs without KVM (software emulation, one host thread: see
// QEMU_ACCEL) and without any network device. scripts/vm/setup.sh installs
// and fetches what is missing; scripts/vm/initramfs.sh builds the VM's
// userland; scripts/vm/init runs the tests inside.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
process.chdir(repo);
const VM_DIR = process.env.VIGIL_VM_DIR ?? '.vm';

/** The VM kernels: series as scripts/vm/setup.sh names them. */
const VM_SERIES = ['6.1', '6.12'];

/**
 * Attach kinds each VM kernel must offer. kprobe_multi needs CONFIG_FPROBE,
 * which Debian enables from 6.12 on: it is expected where the config has it.
 */
const EXPECTED_ATTACH = ['kprobe', 'fentry', 'fexit', 'lsm'];

/**
 * Single-threaded TCG: with one host thread per vCPU (the default), QEMU 7.2
 * lets a vCPU run code the other is patching with int3 (jump labels,
 * perf_event_open), and the guest oopses in __schedule. The guest still has
 * two CPUs.
 */
const QEMU_ACCEL = 'tcg,thread=single';

/** LSMs to activate, in order, when the kernel has them; 'bpf' is required. */
const LSM_ORDER = [
  ['lockdown', 'CONFIG_SECURITY_LOCKDOWN_LSM'],
  ['capability', null],
  ['landlock', 'CONFIG_SECURITY_LANDLOCK'],
  ['yama', 'CONFIG_SECURITY_YAMA'],
  ['apparmor', 'CONFIG_SECURITY_APPARMOR'],
  ['bpf', 'CONFIG_BPF_LSM'],
];

// ---------------------------------------------------------------- options

function usage(msg) {
  if (msg) console.error(`test:kernels: ${msg}`);
  console.error('usage: node scripts/vm/run.mjs [--kernels 6.1,6.12,host] [--timeout MINUTES] [--tier FILE] [--only SUBSTRING] [--exec COMMAND]');
  process.exit(2);
}

const opts = { kernels: [...VM_SERIES, 'host'], timeoutMin: 15, tier: 'test/vm/tier.txt', only: [], exec: null };
if (process.env.VIGIL_VM_TIMEOUT) opts.timeoutMin = Number(process.env.VIGIL_VM_TIMEOUT);
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = () => argv[++i] ?? usage(`${a} needs a value`);
  if (a === '--kernels') opts.kernels = value().split(',').filter(Boolean);
  else if (a === '--timeout') opts.timeoutMin = Number(value());
  else if (a === '--tier') opts.tier = value();
  else if (a === '--only') opts.only.push(value());
  else if (a === '--exec') opts.exec = value();
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
if (!(opts.timeoutMin > 0)) usage('--timeout must be a positive number of minutes');
for (const k of opts.kernels) if (k !== 'host' && !VM_SERIES.includes(k)) usage(`unknown kernel ${k} (have ${VM_SERIES.join(', ')}, host)`);

if (process.getuid?.() !== 0) {
  console.error('test:kernels: run as root (eBPF tests; packages are installed with apt-get)');
  process.exit(1);
}

// One matrix at a time per working tree: runs share .vm/ (the common
// initramfs, the run directories), and a second matrix's VMs beside the
// first's would each take twice as long. A second run waits for the first
// (flock(1)).
if (!process.env.VIGIL_VM_LOCKED) {
  mkdirSync(VM_DIR, { recursive: true });
  const lock = path.join(VM_DIR, 'lock');
  const self = [process.argv[1], ...process.argv.slice(2)];
  const env = { ...process.env, VIGIL_VM_LOCKED: '1' };
  const BUSY = 75;
  let r = spawnSync('flock', ['--nonblock', '--conflict-exit-code', String(BUSY), lock, process.execPath, ...self],
    { stdio: 'inherit', env });
  if (r.status === BUSY) {
    console.log(`test:kernels: another kernel-matrix run holds ${lock}; waiting for it to finish`);
    r = spawnSync('flock', [lock, process.execPath, ...self], { stdio: 'inherit', env });
  }
  process.exit(r.status ?? 1);
}

// ---------------------------------------------------------------- helpers

const fmtTime = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

/** Strips terminal control sequences (SeaBIOS clears the screen) and CRs. */
const clean = (s) => s.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[a-zA-Z])/g, '').replace(/\r/g, '');

/** Runs a command to completion, inheriting stderr; its stdout, or exits on failure. */
function must(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env });
  if (r.status !== 0) {
    console.error(`test:kernels: ${cmd} ${args.join(' ')} failed (${r.error ?? `exit ${r.status}`})`);
    process.exit(1);
  }
  return r.stdout;
}

/** Calls onLine for each complete line written to the returned function. */
function lineSplitter(onLine) {
  let partial = '';
  return (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  };
}

/** The top-level summary of node's TAP reporter ("# pass 12" ...), or null when it never got there. */
function tapSummary(file) {
  if (!existsSync(file)) return null;
  const sum = {};
  for (const line of clean(readFileSync(file, 'utf8')).split('\n')) {
    const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/.exec(line);
    if (m) sum[m[1]] = Number(m[2]);
  }
  return 'tests' in sum && 'pass' in sum && 'fail' in sum ? sum : null;
}

/**
 * What test/headroom.test.ts printed in the TAP (its diagnostics): the
 * verified instructions of every program, and the built-in library's load
 * time. Empty when the tier did not run it.
 */
function tapHeadroom(file) {
  const out = { table: [], max: null, builtins: null };
  if (!existsSync(file)) return out;
  let inTable = false;
  for (const line of clean(readFileSync(file, 'utf8')).split('\n')) {
    const d = /^# (.*)$/.exec(line)?.[1];
    if (d === undefined) continue;
    if (d.startsWith('object/program')) inTable = true;
    if (inTable) out.table.push(d);
    if (d.startsWith('max: ')) {
      inTable = false;
      out.max = d.slice(5);
    }
    const b = /^(\d+ built-in policies loaded together in \d+ ms)/.exec(d);
    if (b) out.builtins = b[1];
  }
  return out;
}

/** The `vigil features --json` report in file, or null. */
function readFeatures(file) {
  try {
    return JSON.parse(clean(readFileSync(file, 'utf8')));
  } catch {
    return null;
  }
}

/** Kernel config options that are =y in the unpacked package. */
function kernelConfig(series) {
  const boot = path.join(VM_DIR, 'kernels', series, 'root', 'boot');
  const file = readdirSync(boot).find((f) => f.startsWith('config-'));
  const set = new Set();
  if (!file) return set;
  for (const line of readFileSync(path.join(boot, file), 'utf8').split('\n')) {
    const m = /^(CONFIG_\w+)=y$/.exec(line);
    if (m) set.add(m[1]);
  }
  return set;
}

// ---------------------------------------------------------------- the tier

function readTier() {
  if (!existsSync(opts.tier)) usage(`no tier file ${opts.tier}`);
  const files = readFileSync(opts.tier, 'utf8').split('\n')
    .map((l) => l.replace(/#.*/, '').trim()).filter(Boolean)
    .filter((f) => opts.only.length === 0 || opts.only.some((o) => f.includes(o)));
  if (files.length === 0) usage(`no test files in ${opts.tier}${opts.only.length ? ` matching ${opts.only.join(', ')}` : ''}`);
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.error(`test:kernels: not built: ${missing.join(', ')} (run npm run setup; the tier names compiled dist/test/*.test.js files)`);
    process.exit(1);
  }
  return files;
}

// ---------------------------------------------------------------- runs

/**
 * One kernel's run: streams the spec reporter's lines to the terminal with a
 * prefix, keeps the TAP output and the features report in runDir.
 */
function makeResult(name) {
  const runDir = path.join(VM_DIR, 'runs', name);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  return {
    name, runDir,
    console: path.join(runDir, 'console.log'),
    tap: path.join(runDir, 'tap.txt'),
    featuresFile: path.join(runDir, 'features.json'),
    release: null, lsm: null, exitStatus: null, timedOut: false, wallMs: 0, problems: [],
  };
}

async function runVm(series, kernel, common, tests) {
  const r = makeResult(series);
  r.package = `${kernel.pkg} ${kernel.version}`;
  const initrd = path.join(VM_DIR, 'initramfs', `initrd-${series}.cpio`);
  must('bash', ['scripts/vm/initramfs.sh', 'kernel', series, initrd, common, ...tests],
    { ...process.env, VIGIL_VM_EXEC: opts.exec ?? '' });

  const config = kernelConfig(series);
  if (!config.has('CONFIG_BPF_LSM')) r.problems.push('kernel built without CONFIG_BPF_LSM');
  const lsm = LSM_ORDER.filter(([, opt]) => opt === null || config.has(opt)).map(([n]) => n).join(',');
  r.expected = [...EXPECTED_ATTACH, ...(config.has('CONFIG_FPROBE') ? ['kprobe_multi'] : [])];

  const args = [
    '-nographic', '-no-reboot', '-m', '2048', '-smp', '2', '-cpu', 'max', '-accel', QEMU_ACCEL,
    '-nic', 'none', '-monitor', 'none',
    '-serial', 'stdio', '-serial', `file:${r.tap}`, '-serial', `file:${r.featuresFile}`,
    '-kernel', kernel.vmlinuz, '-initrd', initrd,
    '-append', `console=ttyS0 panic=-1 lsm=${lsm} quiet`,
  ];
  console.log(`\n=== kernel ${series}: ${kernel.release} (${r.package}), QEMU ${QEMU_ACCEL}, timeout ${opts.timeoutMin} min`);
  const log = createWriteStream(r.console);
  const start = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => {
    r.timedOut = true;
    console.log(`[${series}] timed out after ${opts.timeoutMin} min: stopping the VM`);
    qemu.kill('SIGKILL');
  }, opts.timeoutMin * 60_000);
  const onLine = lineSplitter((raw) => {
    const line = clean(raw);
    let m;
    if ((m = /^VIGIL-VM KERNEL .*release=(\S+) lsm=(\S+)/.exec(line))) [, r.release, r.lsm] = m;
    if ((m = /^VIGIL-VM EXIT status=(\d+)/.exec(line))) r.exitStatus = Number(m[1]);
    if (line.trim()) console.log(`[${series}] ${line}`);
  });
  for (const stream of [qemu.stdout, qemu.stderr]) {
    stream.setEncoding('utf8'); // whole characters per chunk
    stream.on('data', (s) => { log.write(s); onLine(s); });
  }
  const code = await new Promise((resolve) => {
    qemu.on('error', (e) => { r.problems.push(`qemu did not start: ${e.message}`); resolve(null); });
    qemu.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  onLine('\n');
  await new Promise((resolve) => log.end(resolve));
  r.wallMs = Date.now() - start;
  rmSync(initrd, { force: true }); // common.cpio and a few modules: rebuilt in a second

  if (r.timedOut) r.problems.push(`timed out after ${opts.timeoutMin} min`);
  else if (r.exitStatus === null) r.problems.push(`the VM stopped without reporting (qemu exit ${code}; see ${r.console})`);
  if (r.release && r.release !== kernel.release) r.problems.push(`booted ${r.release}, expected ${kernel.release}`);
  finish(r);
  return r;
}

async function runHost(tests) {
  const r = makeResult('host');
  r.release = os.release();
  r.package = 'the host kernel';
  r.expected = [];
  console.log(`\n=== kernel host: ${r.release}`);
  const start = Date.now();
  const features = spawnSync(process.execPath, ['bin/vigil', 'features', '--json'], { encoding: 'utf8' });
  writeFileSync(r.featuresFile, features.stdout ?? '');
  if (features.status !== 0) r.problems.push(`vigil features failed: ${features.stderr}`);
  const log = createWriteStream(r.console);
  const child = spawn(process.execPath, [
    '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${r.tap}`,
    ...tests,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const onLine = lineSplitter((line) => { if (line.trim()) console.log(`[host] ${clean(line)}`); });
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (s) => { log.write(s); onLine(s); });
  }
  r.exitStatus = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  onLine('\n');
  await new Promise((resolve) => log.end(resolve));
  r.wallMs = Date.now() - start;
  r.lsm = readFeatures(r.featuresFile)?.kernel?.lsm ?? null;
  finish(r);
  return r;
}

/** Reads the TAP summary and the features, and decides whether the kernel passed. */
function finish(r) {
  r.summary = tapSummary(r.tap);
  r.headroom = tapHeadroom(r.tap);
  r.features = readFeatures(r.featuresFile);
  if (!r.summary && !r.timedOut && !opts.exec) r.problems.push('no test summary in the TAP output');
  if (r.summary && (r.summary.fail > 0 || r.summary.cancelled > 0)) {
    r.problems.push(`${r.summary.fail} failed, ${r.summary.cancelled ?? 0} cancelled`);
  } else if (r.exitStatus !== null && r.exitStatus !== 0) {
    r.problems.push(`node --test exited ${r.exitStatus}`);
  }
  if (!r.features) r.problems.push('no vigil features --json report');
  for (const kind of r.expected) {
    const f = r.features?.attach?.[kind];
    if (f && !f.available) r.problems.push(`${kind} unavailable: ${f.reason}`);
  }
  r.passed = r.problems.length === 0;
}

// ---------------------------------------------------------------- report

/** "name name ..." of a features section, split by availability. */
function featureLines(section) {
  const yes = [];
  const no = [];
  for (const [name, f] of Object.entries(section ?? {})) {
    if (f.available) yes.push(name);
    else no.push(`${name} (${f.status}: ${f.reason})`);
  }
  return { yes, no };
}

function report(results, tierFiles, totalMs) {
  const out = [];
  out.push(`Vigil kernel matrix: ${tierFiles.length} test files from ${opts.tier}`);
  out.push(`  ${tierFiles.join('\n  ')}`);
  for (const r of results) {
    const s = r.summary;
    out.push('');
    out.push(`kernel ${r.name}: ${r.passed ? 'PASS' : 'FAIL'}`);
    out.push(`  release   ${r.release ?? '?'} (${r.package})`);
    if (r.lsm) out.push(`  lsm       ${r.lsm}`);
    out.push(s
      ? `  tests     ${s.pass} passed, ${s.skipped ?? 0} skipped, ${s.fail} failed` +
        `${s.cancelled ? `, ${s.cancelled} cancelled` : ''} (${s.tests} tests)`
      : '  tests     no summary');
    const span = r.name === 'host' ? '' : r.timedOut ? ' (boot to the timeout)' : ' (boot to power-off)';
    out.push(`  wall time ${fmtTime(r.wallMs)}${span}`);
    if (r.features) {
      const k = r.features.kernel ?? {};
      out.push(`  kernel    btf=${k.btf} jit=${k.jit} ringbuf=${k.ringbuf} lockdown=${k.lockdown} libbpf=${k.libbpf}`);
      const attach = featureLines(r.features.attach);
      out.push(`  attach    available: ${attach.yes.join(' ') || 'none'}`);
      for (const n of attach.no) out.push(`            unavailable: ${n}`);
      for (const section of ['program_types', 'helpers', 'map_types']) {
        const f = featureLines(r.features[section]);
        out.push(`  ${section.replace('_types', 's').padEnd(9)} ${f.yes.length} available` +
          `${f.no.length ? `; unavailable: ${f.no.map((x) => x.split(' ')[0]).join(' ')}` : ''}`);
      }
    }
    if (r.headroom?.max) out.push(`  verifier  max ${r.headroom.max}`);
    if (r.headroom?.builtins) out.push(`  policies  ${r.headroom.builtins}`);
    for (const p of r.problems) out.push(`  problem   ${p}`);
    out.push(`  output    ${r.console}, ${r.tap}, ${r.featuresFile}`);
  }
  const passed = results.filter((r) => r.passed).length;
  out.push('');
  out.push(`matrix time: ${fmtTime(totalMs)} (${results.map((r) => `${r.name} ${fmtTime(r.wallMs)}`).join(', ')})`);
  out.push(`kernels: ${passed} passed, ${results.length - passed} failed`);

  // The file also carries each kernel's whole `vigil features --json`.
  // And the verified instructions of every program there (test/headroom.test.ts).
  const appendix = results.map((r) => (r.headroom?.table.length
    ? `\n--- verified instructions per program on ${r.name} (${r.release ?? '?'})\n${r.headroom.table.join('\n')}\n` : '') +
    `\n--- vigil features --json on ${r.name} (${r.release ?? '?'})\n` +
    `${r.features ? JSON.stringify(r.features, null, 2) : '(none)'}\n`);
  writeFileSync(path.join(VM_DIR, 'report.txt'), `${out.join('\n')}\n${appendix.join('')}`);
  console.log(`\n${out.slice(0, -1).join('\n')}\nreport: ${path.join(VM_DIR, 'report.txt')}\n${out.at(-1)}`);
  return passed === results.length;
}

// ---------------------------------------------------------------- main

const t0 = Date.now();
const tests = readTier();
const vmSeries = opts.kernels.filter((k) => k !== 'host');
const kernels = new Map();
let common = null;
if (vmSeries.length) {
  // "<series> <package> <version> <release> <vmlinuz>" per kernel.
  for (const line of must('bash', ['scripts/vm/setup.sh', ...vmSeries]).trim().split('\n')) {
    const [series, pkg, version, release, vmlinuz] = line.split(' ');
    kernels.set(series, { pkg, version, release, vmlinuz });
  }
  common = path.join(VM_DIR, 'initramfs', 'common.cpio');
  must('bash', ['scripts/vm/initramfs.sh', 'common', common]);
}
if (opts.exec) opts.kernels = vmSeries; // --exec is for the VMs
// The VMs run side by side: each is one emulating host thread (QEMU_ACCEL),
// so two of them take the machine's two cores; the host's run follows,
// since it wants the cores itself. Their lines are told apart by prefix.
const vmRuns = new Map(await Promise.all(vmSeries.map(async (k) => [k, await runVm(k, kernels.get(k), common, tests)])));
const results = [];
for (const k of opts.kernels) results.push(k === 'host' ? await runHost(tests) : vmRuns.get(k));
process.exit(report(results, tests, Date.now() - t0) ? 0 : 1);
