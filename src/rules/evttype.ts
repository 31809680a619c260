// Which event types a condition can match, as Falco's evttype analysis computes
// it (libsinsp ppm_event_codes): `evt.type in (open, openat)` and `evt.type = execve`
// under and/or/not give a set; anything else gives "every type".
//
// Each node gets two sets: T, the types for which it can be true, and F, the
// types for which it can be false. and: T = ∩T, F = ∪F; or: T = ∪T, F = ∩F;
// not swaps them. The rule's T is the set it is indexed under, and the union
// over the enabled rules is the set of syscalls the kernel must report.

/** A set of event type names, or every type but some. */
export type TypeSet =
  | { readonly kind: 'only'; readonly names: ReadonlySet<string> }
  | { readonly kind: 'allBut'; readonly names: ReadonlySet<string> };

export const ALL_TYPES: TypeSet = { kind: 'allBut', names: new Set() };
export const NO_TYPES: TypeSet = { kind: 'only', names: new Set() };

export function only(names: Iterable<string>): TypeSet {
  return { kind: 'only', names: new Set(names) };
}

export function complement(s: TypeSet): TypeSet {
  return s.kind === 'only' ? { kind: 'allBut', names: s.names } : { kind: 'only', names: s.names };
}

export function union(a: TypeSet, b: TypeSet): TypeSet {
  if (a.kind === 'only' && b.kind === 'only') return only([...a.names, ...b.names]);
  if (a.kind === 'allBut' && b.kind === 'allBut') return { kind: 'allBut', names: new Set([...a.names].filter((n) => b.names.has(n))) };
  const [o, e] = a.kind === 'only' ? [a, b] : [b, a];
  return { kind: 'allBut', names: new Set([...e.names].filter((n) => !o.names.has(n))) };
}

export function intersect(a: TypeSet, b: TypeSet): TypeSet {
  return complement(union(complement(a), complement(b)));
}

export function hasType(s: TypeSet, name: string): boolean {
  return s.kind === 'only' ? s.names.has(name) : !s.names.has(name);
}

export function isAll(s: TypeSet): boolean {
  return s.kind === 'allBut' && s.names.size === 0;
}

/** "{execve, execveat}", "all", "all but {x}". */
export function formatTypeSet(s: TypeSet): string {
  const names = [...s.names].sort().join(', ');
  if (s.kind === 'only') return `{${names}}`;
  return s.names.size ? `all but {${names}}` : 'all';
}

/** T and F of one node. */
export interface TypeInfo {
  readonly t: TypeSet;
  readonly f: TypeSet;
}

export const ANY_INFO: TypeInfo = { t: ALL_TYPES, f: ALL_TYPES };

export function andInfo(children: readonly TypeInfo[]): TypeInfo {
  return {
    t: children.reduce((acc, c) => intersect(acc, c.t), ALL_TYPES),
    f: children.reduce((acc, c) => union(acc, c.f), NO_TYPES),
  };
}

export function orInfo(children: readonly TypeInfo[]): TypeInfo {
  return {
    t: children.reduce((acc, c) => union(acc, c.t), NO_TYPES),
    f: children.reduce((acc, c) => intersect(acc, c.f), ALL_TYPES),
  };
}

export function notInfo(c: TypeInfo): TypeInfo {
  return { t: c.f, f: c.t };
}

/** evt.type = x / in (x, y): true only for those types, false for all others. */
export function equalsInfo(names: Iterable<string>): TypeInfo {
  const s = only(names);
  return { t: s, f: complement(s) };
}
