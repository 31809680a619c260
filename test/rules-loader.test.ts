// Rules files: YAML items with source positions, Falco's keys, and how later
// files append to and override earlier ones. Pure: no kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expandRulesPaths, loadRulesFiles, loadRulesSources } from '../src/rules/loader.js';
import { formatDiagnostic } from '../src/rules/diagnostics.js';
import { engineOf, execEvent, openEvent, proc, rulesReport } from './rules-helpers.js';

function load(...files: string[]) {
  return loadRulesSources(files.map((content, i) => ({ name: `f${i}.yaml`, content })));
}

function messages(...files: string[]): string[] {
  return rulesReport(files).diagnostics.map(formatDiagnostic);
}

function firstError(...files: string[]): string {
  const e = rulesReport(files).diagnostics.find((d) => d.severity === 'error');
  assert.ok(e, 'expected an error');
  return formatDiagnostic(e).replace(/^rules/, 'f');
}

/** One rule item, a line before it (the positions the tests check count from 2): `more` are its other keys. */
function rule(name: string, condition: string, priority: string, ...more: string[]): string {
  return `\n- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: o\n  priority: ${priority}\n${more.map((k) => `  ${k}\n`).join('')}`;
}

const BASE = `
- required_engine_version: 0.50.0
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: Shell
  desc: a shell ran
  condition: spawned and proc.name in (shells)
  output: "shell %proc.name"
  priority: WARNING
  tags: [process, b_tag]
`;

describe('items and keys', () => {
  test('rule keys: desc, priority (any case), enabled, tags (sorted set), source', () => {
    const r = load(rule('A', 'evt.type = open', 'informational',
      'enabled: false', 'tags: [z, a, z]', 'source: syscall', 'warn_evttypes: false', 'skip-if-unknown-filter: true'));
    assert.ok(r.ok);
    const a = r.defs.rules.get('A')!;
    assert.equal(a.priority, 'Informational');
    assert.equal(a.enabled, false);
    assert.deepEqual(a.tags, ['a', 'z']);
    assert.equal(a.warnEvttypes, false);
    assert.equal(a.skipIfUnknownFilter, true);
    assert.equal(a.pos.line, 2);
  });

  test('an unknown rule key is a warning naming the key', () => {
    const m = messages(rule('A', 'evt.type = open', 'INFO', 'colour: red'));
    assert.ok(m.some((x) => /^rules0\.yaml:7:3: warning: rule 'A' key 'colour': Unknown key 'colour'/.test(x)), m.join('\n'));
  });

  test('an unknown top-level item is a warning', () => {
    assert.ok(messages('- something: else\n').some((x) => /rules0\.yaml:1:3: warning: item 'something': Unknown top level item/.test(x)));
  });

  test('missing keys, empty values, bad priorities and names are errors with positions', () => {
    assert.match(firstError('- rule: A\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n'), /^f0\.yaml:1:3: error: rule 'A': Item has no mapping for key 'output'/);
    assert.match(firstError('- rule: A\n  desc: d\n  condition:\n  output: o\n  priority: INFO\n'), /f0\.yaml:3:\d+: error: rule 'A' key 'condition': Mapping for key 'condition' is empty/);
    assert.match(firstError('- rule: A\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: LOUD\n'), /f0\.yaml:5:13: error: rule 'A' key 'priority': Invalid priority/);
    assert.match(firstError('- macro: bad-name\n  condition: evt.num = 1\n'), /f0\.yaml:1:3: error: macro 'bad-name': Macro has an invalid name/);
    assert.match(firstError('- list: "bad name"\n  items: []\n'), /List has an invalid name/);
    assert.match(firstError('- list: l\n  items: a\n'), /f0\.yaml:2:10: error: list 'l' key 'items': Value is not a sequence/);
    assert.match(firstError('rule: A\n'), /Rules content is not yaml array of objects/);
    assert.match(firstError('- [a, b]\n'), /Unexpected element type/);
  });

  test('YAML syntax errors name the place', () => {
    assert.match(firstError('- rule: A\n  desc: [unclosed\n'), /^f0\.yaml:\d+:\d+: error: /);
  });

  test('required_engine_version: semver or the old integer; newer than Vigil is an error', () => {
    assert.ok(load('- required_engine_version: 13\n').ok);
    assert.equal(load('- required_engine_version: 0.57.0\n').defs.requiredEngineVersion, '0.57.0');
    assert.match(firstError('- required_engine_version: 0.99.0\n'), /Rules require engine version 0\.99\.0, but engine version is 0\.57\.0/);
    assert.match(firstError('- required_engine_version: banana\n'), /Unable to parse engine version 'banana'/);
  });

  test('required_plugin_versions: the container plugin is built in; others are a warning', () => {
    const r = load(`
- required_plugin_versions:
  - name: container
    version: 0.4.0
  - name: k8saudit
    version: 0.7.0
    alternatives:
      - name: k8saudit-eks
        version: 0.4.0
`);
    assert.ok(r.ok);
    assert.equal(r.defs.requiredPlugins.length, 2);
    const w = r.diagnostics.map(formatDiagnostic);
    assert.equal(w.length, 1);
    assert.match(w[0]!, /f0\.yaml:5:5: warning: required_plugin_versions 'k8saudit': plugin 'k8saudit' \(0\.7\.0\) is required/);
  });

  test('rules of other event sources are skipped, with the reason', () => {
    const r = rulesReport(rule('Audit', 'ka.verb = create', 'INFO', 'source: k8s_audit'));
    assert.ok(r.ok);
    assert.deepEqual(r.skipped.map((s) => [s.name, s.reason]), [['Audit', "event source 'k8s_audit' is not one Vigil evaluates (it needs a Falco plugin)"]]);
    assert.ok(r.diagnostics.some((d) => d.code === 'LOAD_UNKNOWN_SOURCE' && d.message === 'Unknown source k8s_audit, skipping'));
  });
});

describe('positions inside conditions map to the file', () => {
  test('folded block scalar', () => {
    const yaml = `- rule: A
  desc: d
  condition: >
    evt.type = open
    and proc.nmae = x
  output: o
  priority: INFO
`;
    assert.match(firstError(yaml), /^f0\.yaml:5:9: error: rule 'A': filter_check called with nonexistent field proc\.nmae/);
  });
  test('double-quoted scalar on one line, and a syntax error', () => {
    assert.match(firstError('- macro: m\n  condition: "evt.type = open and (proc.name = x"\n'), /^f0\.yaml:2:49: error: macro 'm': expected a '\)' token/);
  });
  test('appended condition: the error is in the second file', () => {
    const e = firstError(BASE, `
- rule: Shell
  condition: and proc.cwd startswith
  override:
    condition: append
`);
    assert.match(e, /^f1\.yaml:3:27: error: rule 'Shell': expected a valid check operator/);
  });
});

describe('append and override across files', () => {
  test('lists: deprecated append (warning) and override append; a later definition replaces', () => {
    const r = rulesReport([BASE, `
- list: shells
  items: [zsh]
  append: true
- list: shells
  items: [fish]
  override:
    items: append
`]);
    assert.ok(r.ok);
    assert.deepEqual(r.definitions.lists.get('shells')!.items.map((i) => i.value), ['bash', 'sh', 'zsh', 'fish']);
    assert.ok(r.diagnostics.some((d) => d.code === 'LOAD_DEPRECATED_ITEM' && /'append' key is deprecated/.test(d.message)));
    const e = engineOf([BASE, '- list: shells\n  items: [ksh]\n']);
    assert.equal(e.evaluate(execEvent(proc({ name: 'bash' }))).length, 0);
    assert.equal(e.evaluate(execEvent(proc({ name: 'ksh' }))).length, 1);
  });

  test('macros: append joins with a space; replace redefines', () => {
    const e = engineOf([BASE, `
- macro: spawned
  condition: and proc.pname = sshd
  override:
    condition: append
`]);
    assert.equal(e.evaluate(execEvent(proc({ name: 'sh' }))).length, 0); // parent is bash
    const ok = engineOf([BASE, `
- macro: spawned
  condition: evt.type in (execve, execveat)
  override:
    condition: replace
`]);
    assert.deepEqual(ok.interestingEventTypes().types, ['execve', 'execveat']);
  });

  test('rules: append condition/output/desc/tags, replace priority/enabled', () => {
    const e = engineOf([BASE, `
- rule: Shell
  condition: and not proc.pname = sshd
  output: "(cwd %proc.cwd)"
  desc: more
  tags: [a_tag]
  override:
    condition: append
    output: append
    desc: append
    tags: append
- rule: Shell
  priority: CRITICAL
  enabled: true
  override:
    priority: replace
    enabled: replace
`]);
    const r = e.rules[0]!;
    assert.equal(r.desc, 'a shell ran more');
    assert.equal(r.priority, 'Critical');
    assert.deepEqual(r.tags, ['a_tag', 'b_tag', 'process']);
    const [a] = e.evaluate(execEvent(proc({ name: 'sh' })));
    assert.equal(a?.message, 'shell sh (cwd /home/alice/)');
  });

  test('rules: deprecated append of condition and exceptions', () => {
    const r = rulesReport([BASE, `
- rule: Shell
  condition: and proc.name != sh
  append: true
`]);
    assert.ok(r.ok);
    assert.equal(r.definitions.rules.get('Shell')!.condition.text, 'spawned and proc.name in (shells) and proc.name != sh');
  });

  test('exceptions: a new one is added; values append to an existing one; replace swaps them', () => {
    const withEx = `
- rule: Opens
  desc: d
  condition: evt.type = openat
  output: o
  priority: INFO
  exceptions:
    - name: procs
      fields: [proc.name]
      values: [[vim]]
`;
    const e = engineOf([withEx, `
- rule: Opens
  exceptions:
    - name: procs
      values: [[nano]]
    - name: files
      fields: fd.name
      comps: pmatch
      values: [/tmp]
  override:
    exceptions: append
`]);
    const c = e.rules[0]!.condition;
    assert.equal(c(openEvent(proc({ name: 'vim' }), '/etc/x')), false);
    assert.equal(c(openEvent(proc({ name: 'nano' }), '/etc/x')), false);
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/tmp/x')), false);
    assert.equal(c(openEvent(proc({ name: 'cat' }), '/etc/x')), true);
    const rep = engineOf([withEx, `
- rule: Opens
  exceptions:
    - name: files
      fields: fd.name
      comps: pmatch
      values: [/etc]
  override:
    exceptions: replace
`]);
    assert.equal(rep.rules[0]!.condition(openEvent(proc({ name: 'vim' }), '/tmp/x')), true);
    assert.equal(rep.rules[0]!.condition(openEvent(proc({ name: 'cat' }), '/etc/x')), false);
    assert.match(firstError(withEx, `
- rule: Opens
  exceptions:
    - name: procs
      fields: [fd.name]
      values: [[x]]
  override:
    exceptions: append
`), /Can not append exception fields to existing exception, only values/);
  });

  test('standalone enabled (deprecated) switches an earlier rule off', () => {
    const r = rulesReport([BASE, '- rule: Shell\n  enabled: false\n']);
    assert.ok(r.ok);
    assert.equal(r.rules[0]!.enabled, false);
    assert.ok(r.diagnostics.some((d) => /standalone 'enabled' key usage is deprecated/.test(d.message)));
    assert.match(firstError('- rule: Nope\n  enabled: false\n'), /Rule has 'enabled' key but no rule by that name already exists/);
  });

  test('override errors', () => {
    assert.match(firstError(BASE, '- rule: Nope\n  condition: and x\n  override:\n    condition: append\n'), /Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists/);
    assert.match(firstError(BASE, '- rule: Nope\n  priority: INFO\n  override:\n    priority: replace\n'), /An 'override.<key>: replace' to a rule was requested but no rule by that name already exists/);
    assert.match(firstError(BASE, '- rule: Shell\n  priority: INFO\n  override:\n    priority: append\n'), /f1\.yaml:4:5: error: rule 'Shell' key 'priority': Key 'priority' cannot be appended to, use 'replace' instead/);
    assert.match(firstError(BASE, '- rule: Shell\n  output: x\n  override:\n    output: merge\n'), /Invalid override operation for key 'output': 'merge'. Allowed values are: append replace/);
    assert.match(firstError(BASE, '- rule: Shell\n  output: x\n  desc: y\n  override:\n    output: append\n'), /f1\.yaml:3:3: error: rule 'Shell' key 'desc': Unexpected key 'desc': no corresponding entry under 'override' is defined\./);
    assert.match(firstError(BASE, '- rule: Shell\n  output: x\n  override:\n    desc: append\n    output: append\n'), /An append override for 'desc' was specified but 'desc' is not defined/);
    assert.match(firstError(BASE, '- list: shells\n  items: [x]\n  append: true\n  override:\n    items: append\n'), /Keys 'override' and 'append: true' cannot be used together/);
    assert.match(firstError('- list: nope\n  items: [x]\n  override:\n    items: append\n'), /List uses 'append' or 'override.items: append' but no list by that name already exists/);
    assert.match(firstError('- macro: nope\n  condition: x\n  append: true\n'), /Macro uses 'append' or 'override.condition: append' but no macro by that name already exists/);
    assert.match(firstError(BASE, BASE.replace('source: syscall', '').replace('priority: WARNING', 'priority: WARNING\n  source: k8s_audit')), /Rule has been re-defined with a different source/);
  });

  test('loading stops at the first error of a file, and later files are not read', () => {
    const r = load('- rule: A\n  desc: d\n', '- list: l\n  items: [a]\n');
    assert.equal(r.ok, false);
    assert.equal(r.diagnostics.filter((d) => d.severity === 'error').length, 1);
    assert.equal(r.defs.lists.size, 0);
  });
});

describe('rules paths', () => {
  test('a directory stands for its files in alphabetical order', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-rules-dir-'));
    try {
      writeFileSync(path.join(dir, '20-local.yaml'), '- list: shells\n  items: [fish]\n  override:\n    items: append\n');
      writeFileSync(path.join(dir, '10-base.yaml'), BASE);
      assert.deepEqual(expandRulesPaths([dir]).map((p) => path.basename(p)), ['10-base.yaml', '20-local.yaml']);
      const r = loadRulesFiles([dir]);
      assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
      assert.deepEqual(r.defs.lists.get('shells')!.items.map((i) => i.value), ['bash', 'sh', 'fish']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
