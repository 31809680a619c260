// `vigil doctor` on this host: every value as the files it reads say, the exit status, --pid.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { HARDENING_SYSCTLS, type Finding } from '../src/kernel/hardening.js';
import { kernelInfo } from '../src/bpf/features.js';
import { requireRoot } from './helpers.js';
import { VIGIL } from './observe-util.js';

requireRoot();

function doctor(...args: string[]): { status: number | null; findings: Finding[]; stderr: string } {
  const r = spawnSync(process.execPath, [VIGIL, 'doctor', '--json', ...args], { encoding: 'utf8' });
  return { status: r.status, findings: JSON.parse(r.stdout) as Finding[], stderr: r.stderr };
}

describe('vigil doctor', () => {
  test('each sysctl and the lockdown mode as this host has them; the status says whether any is bad', () => {
    const r = doctor();
    const by = Object.fromEntries(r.findings.map((f) => [f.check, f]));
    for (const name of HARDENING_SYSCTLS) {
      const check = name.replace(/\//g, '.');
      let want: string | undefined;
      try {
        want = readFileSync(`/proc/sys/${name}`, 'utf8').trim();
      } catch {
        want = undefined;
      }
      assert.equal(by[check]?.value, want ?? 'unreadable (not built in, or not permitted)', check);
      assert.notEqual(by[check]?.status, undefined);
    }
    assert.equal(by.lockdown?.value, kernelInfo().lockdown);
    assert.equal(by.btf?.value, kernelInfo().btf ? 'yes' : 'no');
    assert.equal(r.status, r.findings.some((f) => f.status === 'bad') ? 1 : 0, r.stderr);
  });

  test('--pid: the capabilities of another process, named by its comm', () => {
    const r = doctor('--pid', '1');
    const caps = r.findings.find((f) => f.check === 'capabilities')!;
    const comm = readFileSync('/proc/1/comm', 'utf8').trim();
    assert.match(caps.meaning, new RegExp(`^${comm.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid 1\\)`));
    const bad = spawnSync(process.execPath, [VIGIL, 'doctor', '--pid', '0'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'vigil doctor: --pid: expected an integer >= 1, got "0"\n');
  });
});
