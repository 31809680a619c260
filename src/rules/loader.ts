// Falco rules files: YAML with source positions (eemeli/yaml, LineCounter and
// node ranges), read item by item the way Falco's rule_loader_reader does, and
// collected across files the way its rule_loader_collector does: later items
// define anew, append to, or override earlier ones.
//
// Pure: no kernel, no fields. The result (RulesDefinitions) is what the
// compiler turns into closures; errors and warnings carry file:line:column.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments,
  type Document, type Node as YamlNode, type Pair, type Scalar, type YAMLMap,
} from 'yaml';
import {
  SourceText, type Diagnostic, type ItemKind, type ItemRef, type SourcePos,
} from './diagnostics.js';
import { isBareString, isIdentifier } from './parser.js';

/** The Falco engine version whose rules language Vigil implements (Falco 0.42's engine). */
export const ENGINE_VERSION = '0.57.0';

/** Plugins whose fields Vigil provides itself; a file requiring them loads. */
export const BUILTIN_PLUGINS: Readonly<Record<string, string>> = { container: '0.4.0' };

/** Event sources Vigil evaluates. Rules of other sources (k8s_audit, aws_cloudtrail, ...) are skipped. */
export const SOURCES: readonly string[] = ['syscall'];

export const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Falco's parse_priority: case-insensitive names, "info" for Informational. */
export function parsePriority(s: string): Priority | undefined {
  const l = s.trim().toLowerCase();
  if (l === 'info') return 'Informational';
  return PRIORITIES.find((p) => p.toLowerCase() === l);
}

/** 0 (Emergency) .. 7 (Debug): lower is more severe. */
export function priorityLevel(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/** A scalar or a (nested) list, as exceptions' fields/comps/values are written. */
export type Entry =
  | { readonly kind: 'scalar'; readonly value: string; readonly pos: SourcePos }
  | { readonly kind: 'list'; readonly items: readonly Entry[]; readonly pos: SourcePos };

export interface ExceptionDef {
  readonly name: string;
  readonly fields?: Entry;
  readonly comps?: Entry;
  readonly values: readonly Entry[];
  readonly pos: SourcePos;
}

export interface ListItem {
  readonly value: string;
  readonly pos: SourcePos;
}

export interface ListDef {
  name: string;
  items: ListItem[];
  /** Order of first definition; a list sees only lists defined before it (index < visibility). */
  index: number;
  visibility: number;
  pos: SourcePos;
}

export interface MacroDef {
  name: string;
  condition: SourceText;
  index: number;
  visibility: number;
  pos: SourcePos;
}

export interface RuleDef {
  name: string;
  desc: string;
  condition: SourceText;
  output: SourceText;
  priority: Priority;
  source: string;
  enabled: boolean;
  /** Sorted and unique, as Falco keeps them (std::set). */
  tags: string[];
  exceptions: ExceptionDef[];
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  /** The source is not one Vigil evaluates: the rule is kept for appends but never compiled. */
  unknownSource: boolean;
  index: number;
  visibility: number;
  pos: SourcePos;
}

export interface PluginRequirement {
  readonly name: string;
  readonly version: string;
  readonly alternatives: readonly { readonly name: string; readonly version: string }[];
  readonly pos: SourcePos;
}

/** Everything the files define, after appends and overrides, in definition order. */
export interface RulesDefinitions {
  readonly lists: Map<string, ListDef>;
  readonly macros: Map<string, MacroDef>;
  readonly rules: Map<string, RuleDef>;
  readonly requiredEngineVersion?: string;
  readonly requiredPlugins: readonly PluginRequirement[];
  readonly files: readonly string[];
}

export interface LoadResult {
  readonly defs: RulesDefinitions;
  readonly diagnostics: Diagnostic[];
  readonly ok: boolean;
}

export interface RulesSource {
  /** Name used in positions (the path). */
  readonly name: string;
  readonly content: string;
}

const RULE_KEYS = new Set([
  'rule', 'desc', 'condition', 'output', 'priority', 'enabled', 'tags', 'exceptions', 'source', 'append',
  'override', 'warn_evttypes', 'skip-if-unknown-filter', 'capture', 'capture_duration', 'capture_events',
  'capture_filesize',
]);
const MACRO_KEYS = new Set(['macro', 'condition', 'append', 'override']);
const LIST_KEYS = new Set(['list', 'items', 'append', 'override']);
/** How Falco checks the names of lists and macros, and what it says when one is wrong. */
const NAMED_ITEMS = {
  list: { title: 'List', valid: isBareString, pattern: '([^()"\'[:space:]=,]+)', keys: LIST_KEYS },
  macro: { title: 'Macro', valid: isIdentifier, pattern: '([a-zA-Z]+[a-zA-Z0-9_]*)', keys: MACRO_KEYS },
} as const;
const RULE_APPENDABLE = ['condition', 'output', 'desc', 'tags', 'exceptions'];
const RULE_REPLACEABLE = ['condition', 'output', 'desc', 'priority', 'tags', 'exceptions', 'enabled', 'warn_evttypes', 'skip-if-unknown-filter'];

const WARNING_APPEND = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const WARNING_ENABLED = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
const ERROR_OVERRIDE_APPEND = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";

/** A load error: stops the file, as Falco stops at the first error of a file. */
class LoadError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly pos: SourcePos | undefined,
    readonly item?: ItemRef,
    readonly key?: string,
  ) {
    super(message);
  }
}

/** semver "x.y.z" (or Falco's old integer form N = 0.N.0) -> [x, y, z]. */
export function parseEngineVersion(v: string): [number, number, number] | undefined {
  const t = v.trim();
  if (/^\d+$/.test(t)) return [0, Number(t), 0];
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(t);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** sinsp_version::compatible_with: same major, and not older. */
function versionSatisfies(have: [number, number, number], want: [number, number, number]): boolean {
  if (have[0] !== want[0]) return false;
  if (have[1] !== want[1]) return have[1] > want[1];
  return have[2] >= want[2];
}

function parseBool(s: string): boolean | undefined {
  const l = s.trim().toLowerCase();
  if (['true', 'yes', 'on', 'y'].includes(l)) return true;
  if (['false', 'no', 'off', 'n'].includes(l)) return false;
  return undefined;
}

/** Reads one file's YAML and feeds its items to the collector. */
class FileReader {
  private readonly lc = new LineCounter();
  private doc!: Document;

  constructor(
    private readonly file: RulesSource,
    private readonly col: Collector,
    private readonly diags: Diagnostic[],
  ) {}

  pos(offset: number): SourcePos {
    const { line, col } = this.lc.linePos(offset);
    return { file: this.file.name, line, col };
  }

  nodePos(n: YamlNode | null | undefined, fallback?: SourcePos): SourcePos {
    if (n?.range) return this.pos(n.range[0]);
    return fallback ?? { file: this.file.name, line: 1, col: 1 };
  }

  warn(code: string, message: string, pos: SourcePos | undefined, item?: ItemRef, key?: string): void {
    this.diags.push({ severity: 'warning', code, message, pos, item, key });
  }

  /** Returns false when the file had an error (recorded). */
  read(): boolean {
    const docs = parseAllDocuments(this.file.content, { lineCounter: this.lc, schema: 'failsafe', prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [];
    for (const doc of list) {
      const err = doc.errors[0];
      if (err) {
        this.diags.push({ severity: 'error', code: 'LOAD_ERR_YAML_PARSE', message: err.message.split('\n')[0]!, pos: this.pos(err.pos[0]) });
        return false;
      }
    }
    for (const doc of list) {
      this.doc = doc;
      const contents = doc.contents;
      if (!contents || (isScalar(contents) && this.isNull(contents))) continue;
      try {
        if (!isSeq(contents)) {
          throw new LoadError('LOAD_ERR_YAML_VALIDATE', isMap(contents) ? 'Rules content is not yaml array of objects' : 'Rules content is not yaml', this.nodePos(contents));
        }
        for (const item of contents.items) {
          const node = this.deref(item as YamlNode | null);
          if (!node || (isScalar(node) && this.isNull(node))) continue;
          this.readItem(node);
        }
      } catch (e) {
        if (!(e instanceof LoadError)) throw e;
        this.diags.push({ severity: 'error', code: e.code, message: e.message, pos: e.pos, item: e.item, key: e.key });
        return false;
      }
    }
    return true;
  }

  private deref(n: YamlNode | null | undefined): YamlNode | null {
    if (n && isAlias(n)) return (n.resolve(this.doc) as YamlNode | undefined) ?? null;
    return n ?? null;
  }

  private isNull(n: Scalar): boolean {
    return n.type === 'PLAIN' && n.range !== undefined && n.range !== null && n.range[0] === n.range[1];
  }

  private get(map: YAMLMap, key: string): YamlNode | null | undefined {
    for (const p of map.items as Pair[]) {
      const k = this.deref(p.key as YamlNode);
      if (k && isScalar(k) && String(k.value) === key) return p.value === null ? null : this.deref(p.value as YamlNode);
    }
    return undefined;
  }

  private keyNode(map: YAMLMap, key: string): YamlNode | undefined {
    for (const p of map.items as Pair[]) {
      const k = this.deref(p.key as YamlNode);
      if (k && isScalar(k) && String(k.value) === key) return k;
    }
    return undefined;
  }

  private keys(map: YAMLMap): { key: string; node: YamlNode }[] {
    const out: { key: string; node: YamlNode }[] = [];
    for (const p of map.items as Pair[]) {
      const k = this.deref(p.key as YamlNode);
      if (k && isScalar(k)) out.push({ key: String(k.value), node: k });
    }
    return out;
  }

  private has(map: YAMLMap, key: string): boolean {
    return this.keyNode(map, key) !== undefined;
  }

  /** decode_val: a required, non-empty scalar string. */
  private str(map: YAMLMap, key: string, item: ItemRef | undefined, optional: false): string;
  private str(map: YAMLMap, key: string, item: ItemRef | undefined, optional: true): string | undefined;
  private str(map: YAMLMap, key: string, item: ItemRef | undefined, optional: boolean): string | undefined {
    const v = this.get(map, key);
    const mapPos = this.nodePos(map);
    if (v === undefined) {
      if (optional) return undefined;
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Item has no mapping for key '${key}'`, mapPos, item);
    }
    const vpos = this.nodePos(v, this.nodePos(this.keyNode(map, key)));
    if (v === null || (isScalar(v) && this.isNull(v))) {
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Mapping for key '${key}' is empty`, vpos, item, key);
    }
    if (!isScalar(v)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value is not a scalar value', vpos, item, key);
    const s = String(v.value);
    if (s === '') throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value must be non-empty', vpos, item, key);
    return s;
  }

  private bool(map: YAMLMap, key: string, item: ItemRef): boolean | undefined {
    const s = this.str(map, key, item, true);
    if (s === undefined) return undefined;
    const b = parseBool(s);
    if (b === undefined) {
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', "Can't decode YAML scalar value", this.nodePos(this.get(map, key)), item, key);
    }
    return b;
  }

  /** A condition or output with its map back to the file. */
  private text(map: YAMLMap, key: string, item: ItemRef): SourceText {
    const value = this.str(map, key, item, false);
    const node = this.get(map, key) as Scalar;
    return SourceText.of(value, this.scalarLocator(node, value));
  }

  /**
   * Maps offsets in a scalar's value to the file: the value's non-blank characters
   * appear in the source in order (folding only turns line breaks and indentation
   * into blanks, escapes only add characters), so a greedy match aligns them.
   */
  private scalarLocator(node: Scalar, value: string): (offset: number) => SourcePos {
    const src = this.file.content;
    const [start0, end] = node.range ?? [0, 0];
    let start = start0;
    if (node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') {
      const nl = src.indexOf('\n', start0);
      if (nl >= 0 && nl < end) start = nl + 1;
    }
    let map: number[] | undefined;
    return (offset) => {
      if (!map) {
        map = [];
        let j = start;
        for (let i = 0; i < value.length; i++) {
          const c = value[i]!;
          if (/\s/.test(c)) {
            map.push(j);
            if (src[j] === c) j++;
            continue;
          }
          let k = j;
          while (k < end && src[k] !== c) k++;
          if (k < end) j = k;
          map.push(j);
          j++;
        }
        map.push(Math.min(j, end));
      }
      return this.pos(map[Math.min(offset, map.length - 1)]!);
    };
  }

  private seqOfScalars(map: YAMLMap, key: string, item: ItemRef, optional: boolean): { value: string; pos: SourcePos }[] | undefined {
    const v = this.get(map, key);
    if (v === undefined) {
      if (optional) return undefined;
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Item has no mapping for key '${key}'`, this.nodePos(map), item);
    }
    const vpos = this.nodePos(v, this.nodePos(this.keyNode(map, key)));
    if (!v || !isSeq(v)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value is not a sequence', vpos, item, key);
    const out: { value: string; pos: SourcePos }[] = [];
    for (const raw of v.items) {
      const n = this.deref(raw as YamlNode);
      if (!n || !isScalar(n)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'sequence value is not scalar', this.nodePos(n, vpos), item, key);
      out.push({ value: String(n.value), pos: this.nodePos(n) });
    }
    return out;
  }

  private warnUnknownKeys(map: YAMLMap, allowed: ReadonlySet<string>, item: ItemRef): void {
    for (const { key, node } of this.keys(map)) {
      if (!allowed.has(key)) {
        this.warn('LOAD_UNKNOWN_KEY', `Unknown key '${key}' (ignored, as Falco's schema validation warns)`, this.nodePos(node), item, key);
      }
    }
  }

  /** decode_overrides: { key: append|replace }. */
  private overrides(map: YAMLMap, appendable: readonly string[], replaceable: readonly string[], item: ItemRef): { append: Set<string>; replace: Set<string> } {
    const append = new Set<string>();
    const replace = new Set<string>();
    const ov = this.get(map, 'override');
    if (ov === undefined) return { append, replace };
    const opos = this.nodePos(ov, this.nodePos(this.keyNode(map, 'override')));
    if (!ov || !isMap(ov)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', "'override' must be a mapping of keys to append or replace", opos, item, 'override');
    for (const p of ov.items as Pair[]) {
      const k = this.deref(p.key as YamlNode);
      const v = this.deref(p.value as YamlNode);
      const key = k && isScalar(k) ? String(k.value) : '';
      const op = v && isScalar(v) ? String(v.value) : '';
      const kpos = this.nodePos(k, opos);
      if (op === 'append') {
        if (!appendable.includes(key)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Key '${key}' cannot be appended to, use 'replace' instead`, kpos, item, key);
        append.add(key);
      } else if (op === 'replace') {
        if (!replaceable.includes(key)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Key '${key}' cannot be replaced`, kpos, item, key);
        replace.add(key);
      } else {
        const allowed = [appendable.includes(key) ? 'append' : '', replaceable.includes(key) ? 'replace' : ''].filter(Boolean).join(' ');
        throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Invalid override operation for key '${key}': '${op}'. Allowed values are: ${allowed}`, this.nodePos(v, kpos), item, key);
      }
    }
    return { append, replace };
  }

  private entry(n: YamlNode | null, fallback: SourcePos, item: ItemRef, key: string): Entry {
    const pos = this.nodePos(n, fallback);
    if (n && isScalar(n)) {
      const s = String(n.value);
      if (s === '') throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value must be non-empty', pos, item, key);
      return { kind: 'scalar', value: s, pos };
    }
    if (n && isSeq(n)) {
      return { kind: 'list', items: n.items.map((x) => this.entry(this.deref(x as YamlNode), pos, item, key)), pos };
    }
    throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value must be a scalar or a sequence', pos, item, key);
  }

  /** read_rule_exceptions. */
  private exceptions(map: YAMLMap, item: ItemRef, append: boolean): ExceptionDef[] | undefined {
    const exs = this.get(map, 'exceptions');
    if (exs === undefined || exs === null || (isScalar(exs) && this.isNull(exs))) return undefined;
    const epos = this.nodePos(exs);
    if (!isSeq(exs)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Rule exceptions must be a sequence', epos, item, 'exceptions');
    const out: ExceptionDef[] = [];
    for (const raw of exs.items) {
      const ex = this.deref(raw as YamlNode);
      const xpos = this.nodePos(ex, epos);
      if (!ex || !isMap(ex)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Rule exception must be a mapping', xpos, item, 'exceptions');
      const name = this.str(ex, 'name', item, false);
      if (out.some((e) => e.name === name)) {
        throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Exceptions names in the same object must be unique', xpos, item, `exceptions.${name}`);
      }
      for (const { key, node } of this.keys(ex)) {
        if (!['name', 'fields', 'comps', 'values'].includes(key)) {
          this.warn('LOAD_UNKNOWN_KEY', `Unknown key '${key}' in exception '${name}'`, this.nodePos(node), item, key);
        }
      }
      const fieldsNode = this.get(ex, 'fields');
      if (fieldsNode === undefined && !append) {
        throw new LoadError('LOAD_ERR_YAML_VALIDATE', "Item has no mapping for key 'fields'", xpos, item, `exceptions.${name}`);
      }
      const fields = fieldsNode === undefined ? undefined : this.entry(fieldsNode, xpos, item, `exceptions.${name}.fields`);
      const compsNode = this.get(ex, 'comps');
      const comps = compsNode === undefined ? undefined : this.entry(compsNode, xpos, item, `exceptions.${name}.comps`);
      const valsNode = this.get(ex, 'values');
      const values: Entry[] = [];
      if (valsNode !== undefined) {
        const vpos = this.nodePos(valsNode, xpos);
        if (!valsNode || !isSeq(valsNode)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Rule exception values must be a sequence', vpos, item, `exceptions.${name}.values`);
        for (const v of valsNode.items) values.push(this.entry(this.deref(v as YamlNode), vpos, item, `exceptions.${name}.values`));
      } else if (append) {
        this.warn('LOAD_APPEND_NO_VALUES', 'Overriding/appending exception with no values', xpos, item, `exceptions.${name}`);
      }
      out.push({ name, fields, comps, values, pos: xpos });
    }
    return out;
  }

  private tags(map: YAMLMap, item: ItemRef): string[] | undefined {
    const t = this.seqOfScalars(map, 'tags', item, true);
    return t ? [...new Set(t.map((x) => x.value))].sort() : undefined;
  }

  private priority(map: YAMLMap, item: ItemRef): Priority {
    const s = this.str(map, 'priority', item, false);
    const p = parsePriority(s);
    if (!p) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Invalid priority', this.nodePos(this.get(map, 'priority')), item, 'priority');
    return p;
  }

  /**
   * Whether a list or macro appends its `field` to the earlier definition:
   * `append: true` (deprecated, warned) or `override: { field: append }`, not both.
   */
  private appends(node: YAMLMap, field: string, item: ItemRef, pos: SourcePos): boolean {
    const append = this.bool(node, 'append', item) ?? false;
    if (append) this.warn('LOAD_DEPRECATED_ITEM', WARNING_APPEND, pos, item, 'append');
    const ov = this.overrides(node, [field], [field], item);
    if (append && (ov.append.size || ov.replace.size)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', ERROR_OVERRIDE_APPEND, pos, item);
    return append || ov.append.has(field);
  }

  private readItem(node: YamlNode): void {
    if (!isMap(node)) {
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Unexpected element type. Each element should be a yaml associative array.', this.nodePos(node));
    }
    const pos = this.nodePos(node);
    if (this.has(node, 'required_engine_version')) {
      const item: ItemRef = { kind: 'required_engine_version', name: '' };
      const v = this.str(node, 'required_engine_version', item, false);
      const want = parseEngineVersion(v);
      if (!want) {
        throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Unable to parse engine version '${v}' as a semver string. Expected "x.y.z" semver format.`, pos, item);
      }
      this.col.requireEngine(v, want, pos);
    } else if (this.has(node, 'required_plugin_versions')) {
      const item: ItemRef = { kind: 'required_plugin_versions', name: '' };
      const v = this.get(node, 'required_plugin_versions');
      const vpos = this.nodePos(v, pos);
      if (!v || !isSeq(v)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value of required_plugin_versions must be a sequence', vpos, item);
      for (const raw of v.items) {
        const p = this.deref(raw as YamlNode);
        const ppos = this.nodePos(p, vpos);
        if (!p || !isMap(p)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Plugin version must be a mapping', ppos, item);
        const name = this.str(p, 'name', item, false);
        const version = this.str(p, 'version', { kind: 'required_plugin_versions', name }, false);
        const alternatives: { name: string; version: string }[] = [];
        const alts = this.get(p, 'alternatives');
        if (alts !== undefined) {
          if (!alts || !isSeq(alts)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Value of plugin version alternatives must be a sequence', this.nodePos(alts, ppos), item);
          for (const a of alts.items) {
            const an = this.deref(a as YamlNode);
            if (!an || !isMap(an)) throw new LoadError('LOAD_ERR_YAML_VALIDATE', 'Plugin version alternative must be a mapping', this.nodePos(an, ppos), item);
            alternatives.push({ name: this.str(an, 'name', item, false), version: this.str(an, 'version', item, false) });
          }
        }
        this.col.requirePlugin({ name, version, alternatives, pos: ppos }, this);
      }
    } else if (this.has(node, 'list')) {
      const item = this.namedItem(node, 'list', pos);
      const items = this.seqOfScalars(node, 'items', item, false)!;
      if (this.appends(node, 'items', item, pos)) this.col.appendList(item.name, items, pos);
      else this.col.defineList(item.name, items, pos);
    } else if (this.has(node, 'macro')) {
      const item = this.namedItem(node, 'macro', pos);
      const condition = this.text(node, 'condition', item);
      if (this.appends(node, 'condition', item, pos)) this.col.appendMacro(item.name, condition, pos);
      else this.col.defineMacro(item.name, condition, pos);
    } else if (this.has(node, 'rule')) {
      this.readRule(node, pos);
    } else {
      this.warn('LOAD_UNKNOWN_ITEM', 'Unknown top level item', pos, { kind: 'item', name: this.keys(node)[0]?.key ?? '' });
    }
  }

  /** A list or a macro: its name, checked as Falco checks it, and its unknown keys warned about. */
  private namedItem(node: YAMLMap, kind: keyof typeof NAMED_ITEMS, pos: SourcePos): ItemRef {
    const { title, valid, pattern, keys } = NAMED_ITEMS[kind];
    const item: ItemRef = { kind, name: this.str(node, kind, { kind, name: '' }, false) };
    if (!valid(item.name)) {
      throw new LoadError('LOAD_ERR_YAML_VALIDATE', `${title} has an invalid name. ${title} names must match a regular expression: ${pattern}`, pos, item);
    }
    this.warnUnknownKeys(node, keys, item);
    return item;
  }

  private readRule(node: YAMLMap, pos: SourcePos): void {
    const name = this.str(node, 'rule', { kind: 'rule', name: '' }, false);
    const item: ItemRef = { kind: 'rule', name };
    this.warnUnknownKeys(node, RULE_KEYS, item);
    const hasAppend = this.bool(node, 'append', item) ?? false;
    if (hasAppend) this.warn('LOAD_DEPRECATED_ITEM', WARNING_APPEND, pos, item, 'append');
    const ov = this.overrides(node, RULE_APPENDABLE, RULE_REPLACEABLE, item);
    const hasOverrides = ov.append.size > 0 || ov.replace.size > 0;
    if (hasAppend && hasOverrides) throw new LoadError('LOAD_ERR_YAML_VALIDATE', ERROR_OVERRIDE_APPEND, pos, item);

    if (hasOverrides) {
      // every appendable/replaceable key present must be named under override, and vice versa
      const expected = new Set([...RULE_APPENDABLE, ...RULE_REPLACEABLE].filter((k) => this.has(node, k)));
      for (const [kind, keys] of [['append', ov.append], ['replace', ov.replace]] as const) {
        for (const k of keys) {
          if (!expected.has(k)) {
            throw new LoadError('LOAD_ERR_YAML_VALIDATE', `An ${kind} override for '${k}' was specified but '${k}' is not defined`, pos, item, k);
          }
          expected.delete(k);
        }
      }
      for (const k of expected) {
        throw new LoadError('LOAD_ERR_YAML_VALIDATE', `Unexpected key '${k}': no corresponding entry under 'override' is defined.`, this.nodePos(this.keyNode(node, k), pos), item, k);
      }
      const update = (keys: Set<string>): RuleUpdate => ({
        condition: keys.has('condition') ? this.text(node, 'condition', item) : undefined,
        output: keys.has('output') ? this.text(node, 'output', item) : undefined,
        desc: keys.has('desc') ? this.str(node, 'desc', item, false) : undefined,
        tags: keys.has('tags') ? this.tags(node, item) : undefined,
        exceptions: keys.has('exceptions') ? this.exceptions(node, item, true) ?? [] : undefined,
        priority: keys.has('priority') ? this.priority(node, item) : undefined,
        enabled: keys.has('enabled') ? this.bool(node, 'enabled', item) : undefined,
        warnEvttypes: keys.has('warn_evttypes') ? this.bool(node, 'warn_evttypes', item) : undefined,
        skipIfUnknownFilter: keys.has('skip-if-unknown-filter') ? this.bool(node, 'skip-if-unknown-filter', item) : undefined,
      });
      if (ov.append.size) this.col.appendRule(name, update(ov.append), pos);
      if (ov.replace.size) this.col.replaceRule(name, update(ov.replace), pos);
      return;
    }
    if (hasAppend) {
      this.col.appendRule(name, {
        condition: this.has(node, 'condition') ? this.text(node, 'condition', item) : undefined,
        exceptions: this.has(node, 'exceptions') ? this.exceptions(node, item, true) ?? [] : undefined,
      }, pos);
      return;
    }
    if (!['condition', 'output', 'desc', 'priority'].some((k) => this.has(node, k))) {
      // the deprecated form that only enables or disables an earlier rule
      const enabled = this.bool(node, 'enabled', item);
      if (enabled === undefined) throw new LoadError('LOAD_ERR_YAML_VALIDATE', "Item has no mapping for key 'enabled'", pos, item);
      this.warn('LOAD_DEPRECATED_ITEM', WARNING_ENABLED, pos, item, 'enabled');
      this.col.enableRule(name, enabled, pos);
      return;
    }
    const condition = this.text(node, 'condition', item);
    const outputRaw = this.text(node, 'output', item);
    const desc = this.str(node, 'desc', item, false);
    const priority = this.priority(node, item);
    const source = this.str(node, 'source', item, true) ?? 'syscall';
    const def: RuleDef = {
      name,
      desc,
      condition,
      output: trimText(outputRaw),
      priority,
      source,
      enabled: this.bool(node, 'enabled', item) ?? true,
      tags: this.tags(node, item) ?? [],
      exceptions: this.exceptions(node, item, false) ?? [],
      warnEvttypes: this.bool(node, 'warn_evttypes', item) ?? true,
      skipIfUnknownFilter: this.bool(node, 'skip-if-unknown-filter', item) ?? false,
      unknownSource: false,
      index: 0,
      visibility: 0,
      pos,
    };
    this.col.defineRule(def, this);
  }
}

/** Falco trims outputs; keeps the map (leading blanks shift offsets). */
function trimText(t: SourceText): SourceText {
  const lead = t.text.length - t.text.trimStart().length;
  const trimmed = t.text.trim();
  if (trimmed === t.text) return t;
  return SourceText.of(trimmed, (off) => t.pos(off + lead));
}

export interface RuleUpdate {
  condition?: SourceText;
  output?: SourceText;
  desc?: string;
  tags?: string[];
  exceptions?: ExceptionDef[];
  priority?: Priority;
  enabled?: boolean;
  warnEvttypes?: boolean;
  skipIfUnknownFilter?: boolean;
}

/** rule_loader_collector: definitions across files, with appends and overrides. */
class Collector {
  readonly lists = new Map<string, ListDef>();
  readonly macros = new Map<string, MacroDef>();
  readonly rules = new Map<string, RuleDef>();
  readonly requiredPlugins: PluginRequirement[] = [];
  requiredEngineVersion: string | undefined;
  private maxEngine: [number, number, number] = [0, 0, 0];
  private cur = 0;

  requireEngine(v: string, want: [number, number, number], pos: SourcePos): void {
    const have = parseEngineVersion(ENGINE_VERSION)!;
    if (!versionSatisfies(have, want)) {
      throw new LoadError('LOAD_ERR_VALIDATE', `Rules require engine version ${want.join('.')}, but engine version is ${ENGINE_VERSION}`, pos, { kind: 'required_engine_version', name: v });
    }
    const [a, b] = [want, this.maxEngine];
    const newer = a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] > b[2];
    if (newer || this.requiredEngineVersion === undefined) {
      this.maxEngine = want;
      this.requiredEngineVersion = want.join('.');
    }
  }

  requirePlugin(req: PluginRequirement, r: FileReader): void {
    const names = [req.name, ...req.alternatives.map((a) => a.name)];
    if (new Set(names).size !== names.length) {
      throw new LoadError('LOAD_ERR_VALIDATE', `Defined multiple alternative version requirements for plugin '${req.name}'`, req.pos, { kind: 'required_plugin_versions', name: req.name });
    }
    for (const alt of [req, ...req.alternatives]) {
      if (!parseEngineVersion(alt.version) || /^\d+$/.test(alt.version.trim())) {
        throw new LoadError('LOAD_ERR_VALIDATE', `Invalid required version '${alt.version}' for plugin '${alt.name}'`, req.pos, { kind: 'required_plugin_versions', name: alt.name });
      }
    }
    this.requiredPlugins.push(req);
    const builtin = names.map((n) => [n, BUILTIN_PLUGINS[n]] as const).find(([, v]) => v !== undefined);
    if (!builtin) {
      r.warn('LOAD_PLUGIN_UNAVAILABLE', `plugin '${req.name}' (${req.version}) is required by this file but Vigil has no such plugin; rules of its event sources are skipped`, req.pos, { kind: 'required_plugin_versions', name: req.name });
    }
  }

  private nextId(): number {
    return this.cur++;
  }

  defineList(name: string, items: ListItem[], pos: SourcePos): void {
    const id = this.nextId();
    const prev = this.lists.get(name);
    this.lists.set(name, { name, items, index: prev?.index ?? id, visibility: id, pos });
  }

  appendList(name: string, items: ListItem[], pos: SourcePos): void {
    const prev = this.lists.get(name);
    if (!prev) throw new LoadError('LOAD_ERR_VALIDATE', "List uses 'append' or 'override.items: append' but no list by that name already exists", pos, { kind: 'list', name });
    prev.items.push(...items);
    prev.visibility = this.nextId();
  }

  defineMacro(name: string, condition: SourceText, pos: SourcePos): void {
    const id = this.nextId();
    const prev = this.macros.get(name);
    this.macros.set(name, { name, condition, index: prev?.index ?? id, visibility: id, pos });
  }

  appendMacro(name: string, condition: SourceText, pos: SourcePos): void {
    const prev = this.macros.get(name);
    if (!prev) throw new LoadError('LOAD_ERR_VALIDATE', "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists", pos, { kind: 'macro', name });
    prev.condition = prev.condition.concat(condition);
    prev.visibility = this.nextId();
  }

  defineRule(def: RuleDef, r: FileReader): void {
    const item: ItemRef = { kind: 'rule', name: def.name };
    const prev = this.rules.get(def.name);
    if (prev && prev.source !== def.source) {
      throw new LoadError('LOAD_ERR_VALIDATE', 'Rule has been re-defined with a different source', def.pos, item);
    }
    if (!SOURCES.includes(def.source)) {
      def.unknownSource = true;
      r.warn('LOAD_UNKNOWN_SOURCE', `Unknown source ${def.source}, skipping`, def.pos, item, 'source');
    }
    def.exceptions = def.exceptions.map((ex) => {
      if (!ex.fields) throw new LoadError('LOAD_ERR_VALIDATE', 'Rule exception item must have fields property with a list of fields', ex.pos, item);
      return validateException(ex, item);
    });
    const id = this.nextId();
    def.index = prev?.index ?? id;
    def.visibility = id;
    this.rules.set(def.name, def);
  }

  private prevRule(name: string, pos: SourcePos, message: string): RuleDef {
    const prev = this.rules.get(name);
    if (!prev) throw new LoadError('LOAD_ERR_VALIDATE', message, pos, { kind: 'rule', name });
    return prev;
  }

  appendRule(name: string, u: RuleUpdate, pos: SourcePos): void {
    const item: ItemRef = { kind: 'rule', name };
    const prev = this.prevRule(name, pos, "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists");
    if (!hasAnyValue(u)) throw new LoadError('LOAD_ERR_VALIDATE', 'Appended rule must have exceptions or condition property', pos, item);
    if (u.condition && u.condition.text !== '') prev.condition = prev.condition.concat(u.condition);
    if (u.output && u.output.text !== '') prev.output = prev.output.concat(u.output);
    if (u.desc) prev.desc = `${prev.desc} ${u.desc}`;
    if (u.tags) prev.tags = [...new Set([...prev.tags, ...u.tags])].sort();
    for (const ex of u.exceptions ?? []) {
      const existing = prev.exceptions.find((e) => e.name === ex.name);
      if (!existing) {
        if (!ex.fields) throw new LoadError('LOAD_ERR_VALIDATE', 'Rule exception must have fields property with a list of fields', ex.pos, item);
        if (ex.values.length === 0) throw new LoadError('LOAD_ERR_VALIDATE', 'Rule exception must have values property with a list of values', ex.pos, item);
        prev.exceptions.push(validateException(ex, item));
      } else {
        if (ex.fields) throw new LoadError('LOAD_ERR_VALIDATE', 'Can not append exception fields to existing exception, only values', ex.pos, item);
        if (ex.comps) throw new LoadError('LOAD_ERR_VALIDATE', 'Can not append exception comps to existing exception, only values', ex.pos, item);
        const i = prev.exceptions.indexOf(existing);
        prev.exceptions[i] = { ...existing, values: [...existing.values, ...ex.values] };
      }
    }
    prev.visibility = this.nextId();
  }

  replaceRule(name: string, u: RuleUpdate, pos: SourcePos): void {
    const item: ItemRef = { kind: 'rule', name };
    const prev = this.prevRule(name, pos, "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists");
    if (!hasAnyValue(u)) throw new LoadError('LOAD_ERR_VALIDATE', 'The rule must have at least one field that can be replaced', pos, item);
    if (u.condition) prev.condition = u.condition;
    if (u.output) prev.output = trimText(u.output);
    if (u.desc !== undefined) prev.desc = u.desc;
    if (u.tags) prev.tags = u.tags;
    if (u.exceptions) prev.exceptions = u.exceptions.map((e) => validateException(e, item));
    if (u.priority) prev.priority = u.priority;
    if (u.enabled !== undefined) prev.enabled = u.enabled;
    if (u.warnEvttypes !== undefined) prev.warnEvttypes = u.warnEvttypes;
    if (u.skipIfUnknownFilter !== undefined) prev.skipIfUnknownFilter = u.skipIfUnknownFilter;
    prev.visibility = this.nextId();
  }

  enableRule(name: string, enabled: boolean, pos: SourcePos): void {
    const prev = this.prevRule(name, pos, "Rule has 'enabled' key but no rule by that name already exists");
    prev.enabled = enabled;
  }
}

function hasAnyValue(u: RuleUpdate): boolean {
  return Object.values(u).some((v) => v !== undefined);
}

const ALL_OPERATORS = new Set(['exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch']);
const STRING_OPERATORS = new Set(['==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex']);

/** "startswith", "startswith anyof": an operator, with a list modifier on string operators. */
export function isExceptionComp(comp: string): boolean {
  const parts = comp.trim().split(/\s+/);
  if (parts.length === 1) return ALL_OPERATORS.has(parts[0]!);
  return parts.length === 2 && STRING_OPERATORS.has(parts[0]!) && ['oneof', 'anyof', 'allof'].includes(parts[1]!);
}

/** validate_exception_info: default comps, matching lengths, known operators. Fields are checked when compiled. */
function validateException(ex: ExceptionDef, item: ItemRef): ExceptionDef {
  const fields = ex.fields!;
  if (fields.kind === 'list') {
    let comps = ex.comps;
    if (!comps) comps = { kind: 'list', items: fields.items.map(() => ({ kind: 'scalar', value: '=', pos: ex.pos })), pos: ex.pos };
    if (comps.kind !== 'list' || comps.items.length !== fields.items.length) {
      throw new LoadError('LOAD_ERR_VALIDATE', 'Fields and comps lists must have equal length', ex.pos, item, `exceptions.${ex.name}`);
    }
    for (const c of comps.items) {
      if (c.kind !== 'scalar' || !isExceptionComp(c.value)) {
        throw new LoadError('LOAD_ERR_VALIDATE', `'${c.kind === 'scalar' ? c.value : '[...]'}' is not a supported comparison operator`, c.pos, item, `exceptions.${ex.name}`);
      }
    }
    for (const f of fields.items) {
      if (f.kind !== 'scalar') throw new LoadError('LOAD_ERR_VALIDATE', 'Exception fields must be field names', f.pos, item, `exceptions.${ex.name}`);
    }
    return { ...ex, comps };
  }
  const comps: Entry = ex.comps ?? { kind: 'scalar', value: 'in', pos: ex.pos };
  if (comps.kind === 'list') throw new LoadError('LOAD_ERR_VALIDATE', 'Fields and comps must both be strings', ex.pos, item, `exceptions.${ex.name}`);
  if (!['in', 'pmatch', 'intersects'].includes(comps.value)) {
    throw new LoadError('LOAD_ERR_VALIDATE', 'When fields is a single value, comps must be one of (in, pmatch, intersects)', comps.pos, item, `exceptions.${ex.name}`);
  }
  return { ...ex, comps };
}

/** Loads rules sources in order; later ones append to and override earlier ones. Stops at the first error. */
export function loadRulesSources(sources: readonly RulesSource[]): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const col = new Collector();
  let ok = true;
  for (const src of sources) {
    if (!new FileReader(src, col, diagnostics).read()) {
      ok = false;
      break;
    }
  }
  return {
    defs: {
      lists: col.lists,
      macros: col.macros,
      rules: col.rules,
      requiredEngineVersion: col.requiredEngineVersion,
      requiredPlugins: col.requiredPlugins,
      files: sources.map((s) => s.name),
    },
    diagnostics,
    ok,
  };
}

/**
 * Rules paths as Falco's rules_files takes them: a directory stands for the
 * regular files in it, in alphabetical order (not recursive). Unreadable paths
 * are kept, so loading reports them.
 */
export function expandRulesPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      // reported when read
    }
    if (!isDir) {
      out.push(p);
      continue;
    }
    const files = readdirSync(p, { withFileTypes: true })
      .filter((d) => d.isFile() || (d.isSymbolicLink() && statSync(path.join(p, d.name), { throwIfNoEntry: false })?.isFile()))
      .map((d) => d.name)
      .sort();
    out.push(...files.map((f) => path.join(p, f)));
  }
  return out;
}

/** Reads and loads rules files in order. A file that cannot be read is an error naming it. */
export function loadRulesFiles(paths: readonly string[]): LoadResult {
  const sources: RulesSource[] = [];
  paths = expandRulesPaths(paths);
  for (const p of paths) {
    try {
      sources.push({ name: p, content: readFileSync(p, 'utf8') });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return {
        defs: { lists: new Map(), macros: new Map(), rules: new Map(), requiredPlugins: [], files: paths },
        diagnostics: [{ severity: 'error', code: 'LOAD_ERR_FILE_READ', message: `cannot read rules file: ${err.code ?? ''} ${err.message}`.trim(), pos: { file: p, line: 1, col: 1 } }],
        ok: false,
      };
    }
  }
  return loadRulesSources(sources);
}

export type { ItemKind };
