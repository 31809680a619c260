// The rules engine: loads Falco rules files, compiles every rule once, indexes
// the enabled ones by the event types their conditions can match, and
// evaluates events against only the rules for their type.
//
//   const engine = RuleEngine.load(['/etc/falco/falco_rules.yaml']);
//   engine.interestingEventTypes()   // what the kernel must report
//   for (const alert of engine.evaluate(ev)) sink.write(alert);
//
// Generic over the event: the default is RuleEvent with Vigil's field table;
// another event shape brings its own FieldTable and type/time accessors.
import { hostname as osHostname } from 'node:os';
import { ConditionCompiler, CompileError, type Predicate } from './compile.js';
import { RulesLoadError, type Diagnostic, type SourcePos } from './diagnostics.js';
import type { RuleEvent } from './event.js';
import { formatTypeSet, hasType, isAll, union, NO_TYPES, type TypeSet } from './evttype.js';
import { FALCO_PSEUDO_EVENTS } from './falco-fields.js';
import { RuleFieldTable, type FieldTable } from './fields.js';
import {
  loadRulesFiles, loadRulesSources, priorityLevel,
  type LoadResult, type Priority, type RulesDefinitions, type RulesSource,
} from './loader.js';
import { compileOutput, type Alert, type OutputFormat } from './output.js';
import { syscallTable } from '../kernel/syscalls.js';

export interface CompiledRule<E = RuleEvent> {
  readonly name: string;
  readonly desc: string;
  readonly priority: Priority;
  readonly source: string;
  readonly tags: readonly string[];
  readonly enabled: boolean;
  /** Load order (Falco evaluates rules in this order; rule_matching first stops at the first match). */
  readonly index: number;
  readonly condition: Predicate<E>;
  readonly output: OutputFormat<E>;
  /** Event types the condition can match. */
  readonly eventTypes: TypeSet;
  readonly pos: SourcePos;
}

export interface SkippedRule {
  readonly name: string;
  readonly reason: string;
  readonly pos: SourcePos;
}

export interface RuleEngineOptions<E = RuleEvent> {
  /** Field table; default Vigil's, over RuleEvent. */
  fields?: FieldTable<E>;
  /** The event's type name (evt.type); default ev.type. */
  eventType?: (ev: E) => string;
  /** The event's time, ns since the epoch; default ev.timeNs. */
  eventTime?: (ev: E) => bigint;
  /** Rules less severe than this are not loaded (Falco's priority / --min-priority). */
  minPriority?: Priority;
  /** first: at most one alert per event (the first matching rule in load order); all: every match. */
  ruleMatching?: 'first' | 'all';
  hostname?: string;
}

export interface RuleStats {
  readonly events: number;
  /** Condition evaluations (rules run for events of their types). */
  readonly evaluations: number;
  readonly alerts: number;
  /** Matches per rule name. */
  readonly matches: ReadonlyMap<string, number>;
}

/** What loading produced, errors included: for `vigil rules validate`. */
export interface RulesReport<E = RuleEvent> {
  readonly ok: boolean;
  readonly files: readonly string[];
  readonly rules: readonly CompiledRule<E>[];
  readonly skipped: readonly SkippedRule[];
  readonly macros: number;
  readonly lists: number;
  readonly diagnostics: readonly Diagnostic[];
  /** Field references the compiled rules use (conditions and outputs), as written. */
  readonly fields: ReadonlySet<string>;
  readonly definitions: RulesDefinitions;
}

const NO_EVTTYPE_WARNING = 'Rule matches too many evt.type values. This has a significant performance penalty.';

let knownSyscalls: Set<string> | undefined;

/** Syscall names of x86_64 and arm64 (any architecture's rules file validates anywhere), and Falco's pseudo events. */
export function isKnownEventType(name: string): boolean {
  if (!knownSyscalls) {
    knownSyscalls = new Set([...syscallTable('x86_64'), ...syscallTable('arm64')].map(([, n]) => n));
    // Falco's own names for calls the tables spell differently
    for (const n of ['signalfd', 'eventfd', 'pread', 'pwrite', 'umount', 'socketcall']) knownSyscalls.add(n);
  }
  return knownSyscalls.has(name) || FALCO_PSEUDO_EVENTS.has(name);
}

/**
 * The event types a set of compiled rules can match (the interesting-syscalls
 * set the kernel is asked for). all = true when some rule can match any type;
 * `except` then lists the types none needs.
 */
export function interestingEventTypes<E>(rules: readonly CompiledRule<E>[]): { all: boolean; types: string[]; except: string[] } {
  const u = rules.reduce<TypeSet>((acc, r) => union(acc, r.eventTypes), NO_TYPES);
  if (u.kind === 'only') return { all: false, types: [...u.names].sort(), except: [] };
  return { all: true, types: [], except: [...u.names].sort() };
}

function compileAll<E>(load: LoadResult, opts: RuleEngineOptions<E> & { fields: FieldTable<E> }): RulesReport<E> {
  const diagnostics: Diagnostic[] = [...load.diagnostics];
  const defs = load.defs;
  const rules: CompiledRule<E>[] = [];
  const skipped: SkippedRule[] = [];
  const base = { files: defs.files, macros: defs.macros.size, lists: defs.lists.size, definitions: defs };
  if (!load.ok) {
    return { ...base, ok: false, rules, skipped, diagnostics, fields: new Set() };
  }
  const seenWarnings = new Set<string>();
  const warnAt = (item: Diagnostic['item']) => (message: string, pos: SourcePos, code: string): void => {
    const key = `${code}|${pos.file}:${pos.line}:${pos.col}|${message}`;
    if (seenWarnings.has(key)) return;
    seenWarnings.add(key);
    diagnostics.push({ severity: 'warning', code, message, pos, item });
  };
  let currentRule: Diagnostic['item'];
  const compiler = new ConditionCompiler<E>(opts.fields, defs.lists, defs.macros, {
    isKnownEventType,
    warn: (m, p, c) => warnAt(currentRule)(m, p, c),
  });
  const macroErrors = compiler.checkMacros();
  for (const { macro, error } of macroErrors) {
    diagnostics.push({ severity: 'error', code: error.code, message: error.message, pos: error.pos, item: { kind: 'macro', name: macro } });
  }
  if (macroErrors.length) {
    // as Falco: the macros must resolve before any rule compiles
    return { ...base, ok: false, rules, skipped, diagnostics, fields: new Set() };
  }
  const outputFields = new Set<string>();
  for (const r of defs.rules.values()) {
    const item = { kind: 'rule' as const, name: r.name };
    currentRule = item;
    if (r.unknownSource) {
      skipped.push({ name: r.name, reason: `event source '${r.source}' is not one Vigil evaluates (it needs a Falco plugin)`, pos: r.pos });
      continue;
    }
    try {
      const cond = compiler.compileRule(r.condition, r.exceptions);
      const output = compileOutput(r.output, compiler, { warn: warnAt(item) });
      for (const f of output.fields) outputFields.add(f);
      const t = cond.types.t;
      if (r.warnEvttypes && (isAll(t) || t.kind === 'allBut' || t.names.size === 0 || t.names.size > 100)) {
        diagnostics.push({ severity: 'warning', code: 'LOAD_NO_EVTTYPE', message: NO_EVTTYPE_WARNING, pos: r.pos, item });
      }
      rules.push({
        name: r.name, desc: r.desc, priority: r.priority, source: r.source, tags: r.tags, enabled: r.enabled,
        index: r.index, condition: cond.pred, output, eventTypes: t, pos: r.pos,
      });
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      if (e.skip) {
        skipped.push({ name: r.name, reason: e.skip, pos: r.pos });
        diagnostics.push({ severity: 'warning', code: e.code, message: `${e.message}; rule skipped`, pos: e.pos, item });
      } else if (e.unknownFilter && r.skipIfUnknownFilter) {
        skipped.push({ name: r.name, reason: `skip-if-unknown-filter: ${e.message}`, pos: r.pos });
        diagnostics.push({ severity: 'warning', code: 'LOAD_UNKNOWN_FILTER', message: e.message, pos: e.pos, item });
      } else {
        diagnostics.push({ severity: 'error', code: e.code, message: e.message, pos: e.pos, item });
      }
    }
  }
  currentRule = undefined;
  // lists used only through other lists count as used (Falco marks them when it expands lists)
  for (const name of compiler.usedLists) compiler.listValues(name);
  for (const m of defs.macros.values()) {
    if (!compiler.usedMacros.has(m.name)) {
      diagnostics.push({ severity: 'warning', code: 'LOAD_UNUSED_MACRO', message: 'Macro not referred to by any other rule/macro', pos: m.pos, item: { kind: 'macro', name: m.name } });
    }
  }
  for (const l of defs.lists.values()) {
    if (!compiler.usedLists.has(l.name)) {
      diagnostics.push({ severity: 'warning', code: 'LOAD_UNUSED_LIST', message: 'List not referred to by any other rule/macro', pos: l.pos, item: { kind: 'list', name: l.name } });
    }
  }
  rules.sort((a, b) => a.index - b.index);
  const ok = !diagnostics.some((d) => d.severity === 'error');
  return { ...base, ok, rules, skipped, diagnostics, fields: new Set([...compiler.usedFields, ...outputFields]) };
}

export class RuleEngine<E = RuleEvent> {
  /** Every compiled rule (enabled or not), in load order. */
  readonly rules: readonly CompiledRule<E>[];
  readonly skipped: readonly SkippedRule[];
  readonly macros: number;
  readonly lists: number;
  readonly warnings: readonly Diagnostic[];
  readonly report: RulesReport<E>;
  private readonly active: CompiledRule<E>[];
  private readonly byType = new Map<string, CompiledRule<E>[]>();
  private readonly typeOf: (ev: E) => string;
  private readonly timeOf: (ev: E) => bigint;
  private readonly firstOnly: boolean;
  private readonly hostname: string;
  private events = 0;
  private evaluations = 0;
  private alerts = 0;
  private readonly matchCounts: number[];
  private readonly activeIndex = new Map<CompiledRule<E>, number>();

  private constructor(report: RulesReport<E>, opts: RuleEngineOptions<E>) {
    this.report = report;
    this.rules = report.rules;
    this.skipped = report.skipped;
    this.macros = report.macros;
    this.lists = report.lists;
    this.warnings = report.diagnostics.filter((d) => d.severity === 'warning');
    const min = opts.minPriority ? priorityLevel(opts.minPriority) : Infinity;
    this.active = report.rules.filter((r) => r.enabled && priorityLevel(r.priority) <= min);
    this.matchCounts = new Array<number>(this.active.length).fill(0);
    this.active.forEach((r, i) => this.activeIndex.set(r, i));
    this.typeOf = opts.eventType ?? ((ev: E) => (ev as unknown as RuleEvent).type);
    this.timeOf = opts.eventTime ?? ((ev: E) => (ev as unknown as RuleEvent).timeNs);
    this.firstOnly = opts.ruleMatching === 'first';
    this.hostname = opts.hostname ?? osHostname();
  }

  private static withDefaults<E>(opts: RuleEngineOptions<E>): RuleEngineOptions<E> & { fields: FieldTable<E> } {
    return { ...opts, fields: opts.fields ?? (new RuleFieldTable({ hostname: opts.hostname }) as unknown as FieldTable<E>) };
  }

  /** Loads and compiles rules files in order, reporting every problem instead of throwing. */
  static validate<E = RuleEvent>(files: readonly string[], opts: RuleEngineOptions<E> = {}): RulesReport<E> {
    return compileAll(loadRulesFiles(files), RuleEngine.withDefaults(opts));
  }

  static validateSources<E = RuleEvent>(sources: readonly RulesSource[], opts: RuleEngineOptions<E> = {}): RulesReport<E> {
    return compileAll(loadRulesSources(sources), RuleEngine.withDefaults(opts));
  }

  /** Loads rules files in order; throws RulesLoadError (every diagnostic, errors first named) on any error. */
  static load<E = RuleEvent>(files: readonly string[], opts: RuleEngineOptions<E> = {}): RuleEngine<E> {
    return RuleEngine.fromReport(RuleEngine.validate(files, opts), opts);
  }

  static fromSources<E = RuleEvent>(sources: readonly RulesSource[], opts: RuleEngineOptions<E> = {}): RuleEngine<E> {
    return RuleEngine.fromReport(RuleEngine.validateSources(sources, opts), opts);
  }

  private static fromReport<E>(report: RulesReport<E>, opts: RuleEngineOptions<E>): RuleEngine<E> {
    if (!report.ok) throw new RulesLoadError(report.diagnostics);
    return new RuleEngine(report, opts);
  }

  /** Enabled rules at or above the priority threshold. */
  get activeRules(): readonly CompiledRule<E>[] {
    return this.active;
  }

  /**
   * The event types the active rules can match: what the kernel must report.
   * all = true when some rule can match any type (then `except` lists the
   * types no rule needs, usually empty).
   */
  interestingEventTypes(): { all: boolean; types: string[]; except: string[] } {
    return interestingEventTypes(this.active);
  }

  /** The active rules for one event type, in load order (computed once per type). */
  rulesFor(type: string): readonly CompiledRule<E>[] {
    let list = this.byType.get(type);
    if (!list) {
      list = this.active.filter((r) => hasType(r.eventTypes, type));
      this.byType.set(type, list);
    }
    return list;
  }

  /** Runs the event through the rules of its type; returns the alerts (at most one with rule_matching first). */
  evaluate(ev: E): Alert[] {
    this.events++;
    const rules = this.rulesFor(this.typeOf(ev));
    let out: Alert[] | undefined;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      this.evaluations++;
      if (!r.condition(ev)) continue;
      (out ??= []).push(this.alert(r, ev));
      if (this.firstOnly) break;
    }
    return out ?? [];
  }

  /** Whether any rule matches, without building alerts (benchmarks, pre-filters). */
  matches(ev: E): number {
    this.events++;
    const rules = this.rulesFor(this.typeOf(ev));
    let n = 0;
    for (let i = 0; i < rules.length; i++) {
      this.evaluations++;
      if (rules[i]!.condition(ev)) n++;
    }
    return n;
  }

  private alert(r: CompiledRule<E>, ev: E): Alert {
    this.alerts++;
    const k = this.activeIndex.get(r);
    if (k !== undefined) this.matchCounts[k]!++;
    return {
      rule: r.name,
      priority: r.priority,
      source: r.source,
      tags: r.tags,
      timeNs: this.timeOf(ev),
      hostname: this.hostname,
      message: r.output.format(ev),
      outputFields: r.output.values(ev),
    };
  }

  stats(): RuleStats {
    const matches = new Map<string, number>();
    this.active.forEach((r, i) => {
      const n = this.matchCounts[i] ?? 0;
      if (n) matches.set(r.name, n);
    });
    return { events: this.events, evaluations: this.evaluations, alerts: this.alerts, matches };
  }

  /** Describes a rule's index entry, e.g. "{execve, execveat}". */
  static describeTypes(t: TypeSet): string {
    return formatTypeSet(t);
  }
}
