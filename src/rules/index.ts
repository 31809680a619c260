// Falco-compatible detection rules: load rules files, compile conditions to
// closures, evaluate RuleEvents, format alerts as Falco does.
export { RuleEngine, interestingEventTypes, isKnownEventType } from './engine.js';
export type { CompiledRule, RuleEngineOptions, RuleStats, RulesReport, SkippedRule } from './engine.js';
export type { ArgValue, ContainerMount, FdType, RuleContainer, RuleEvent, RuleFd, RuleK8s, RuleProcess, SocketEnd } from './event.js';
export { openFlagNames } from './event.js';
export { RuleFieldTable, FieldError, capsToString, resToString } from './fields.js';
export type { FieldAccess, FieldInfo, FieldTable, FieldType, FieldValue, Scalar } from './fields.js';
export { ConditionCompiler, CompileError } from './compile.js';
export type { Compiled, Predicate } from './compile.js';
export { parseCondition, ConditionSyntaxError } from './parser.js';
export type { Expr } from './ast.js';
export { expandRulesPaths, loadRulesFiles, loadRulesSources, parsePriority, priorityLevel, PRIORITIES, ENGINE_VERSION } from './loader.js';
export type { LoadResult, Priority, RulesDefinitions, RulesSource } from './loader.js';
export { RulesLoadError, SourceText, formatDiagnostic, formatPos } from './diagnostics.js';
export type { Diagnostic, SourcePos } from './diagnostics.js';
export type { TypeSet } from './evttype.js';
export { formatTypeSet } from './evttype.js';
export {
  AlertRouter, FileSink, HttpSink, StreamSink, formatAlertJson, formatAlertText, meetsPriority, rfc3339Nano,
} from './output.js';
export type { Alert, AlertFormatOptions, AlertSink, HttpSinkOptions, OutputEncoding } from './output.js';
export { UserDb } from './users.js';
