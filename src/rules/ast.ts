// The syntax tree of a Falco condition, as libsinsp's filter parser builds it.
// Positions are offsets into the condition text; SourceText maps them to files.

export type Transformer = 'tolower' | 'toupper' | 'b64' | 'basename' | 'len';
export const TRANSFORMERS: readonly Transformer[] = ['tolower', 'toupper', 'b64', 'basename', 'len'];

/** A field, e.g. proc.aname[2] (arg "2") or fd.name. */
export interface FieldNode {
  readonly kind: 'field';
  readonly name: string;
  readonly arg?: string;
  readonly pos: number;
}

/** A transformer applied to a field or another transformer: tolower(proc.name). */
export interface TransformNode {
  readonly kind: 'transform';
  readonly fn: Transformer;
  readonly arg: Operand;
  readonly pos: number;
}

export type Operand = FieldNode | TransformNode;

export const UNARY_OPS = ['exists'] as const;
export const NUM_OPS = ['<=', '<', '>=', '>'] as const;
/** String operators; the word operators need a blank after them. */
export const STR_OPS = ['==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex'] as const;
export const LIST_OPS = ['intersects', 'in', 'pmatch'] as const;
/** List modifiers of string operators: `proc.name startswith anyof (a, b)`. */
export const MODIFIERS = ['oneof', 'anyof', 'allof'] as const;

export type NumOp = (typeof NUM_OPS)[number];
export type StrOp = (typeof STR_OPS)[number];
export type ListOp = (typeof LIST_OPS)[number];
export type BinaryOp = NumOp | StrOp | ListOp;
export type Modifier = (typeof MODIFIERS)[number];

/** A literal: a bare or quoted string, or a number (kept as its text). */
export interface ValueNode {
  readonly kind: 'value';
  readonly value: string;
  /** Quoted values are never list names. */
  readonly quoted: boolean;
  readonly pos: number;
}

/** (a, b, "c d"): items that are bare list names expand to the list's items. */
export interface ListNode {
  readonly kind: 'list';
  readonly items: readonly ValueNode[];
  readonly pos: number;
}

/** A bare identifier where a list is expected: `proc.name in shell_binaries`. */
export interface ListRefNode {
  readonly kind: 'listref';
  readonly name: string;
  readonly pos: number;
}

/** A field on the right-hand side: val(proc.pname) or tolower(proc.pname). */
export interface FieldRefNode {
  readonly kind: 'fieldref';
  readonly operand: Operand;
  readonly pos: number;
}

export type Rhs = ValueNode | ListNode | ListRefNode | FieldRefNode;

export interface UnaryCheck {
  readonly kind: 'unary';
  readonly left: Operand;
  readonly op: 'exists';
  readonly pos: number;
}

export interface BinaryCheck {
  readonly kind: 'binary';
  readonly left: Operand;
  readonly op: BinaryOp;
  readonly mod?: Modifier;
  readonly right: Rhs;
  readonly pos: number;
  /** Position of the operator (for type errors). */
  readonly opPos: number;
}

/** A bare identifier in boolean position: a macro reference. */
export interface MacroRef {
  readonly kind: 'macro';
  readonly name: string;
  readonly pos: number;
}

export interface AndNode {
  readonly kind: 'and';
  readonly children: readonly Expr[];
  readonly pos: number;
}

export interface OrNode {
  readonly kind: 'or';
  readonly children: readonly Expr[];
  readonly pos: number;
}

export interface NotNode {
  readonly kind: 'not';
  readonly child: Expr;
  readonly pos: number;
}

export type Expr = AndNode | OrNode | NotNode | MacroRef | UnaryCheck | BinaryCheck;

/** Calls fn on every node of the tree (pre-order). */
export function walk(e: Expr, fn: (e: Expr) => void): void {
  fn(e);
  switch (e.kind) {
    case 'and':
    case 'or':
      for (const c of e.children) walk(c, fn);
      return;
    case 'not':
      walk(e.child, fn);
      return;
    default:
      return;
  }
}

/** The fields an operand reads (the field under its transformers). */
export function operandField(o: Operand): FieldNode {
  return o.kind === 'field' ? o : operandField(o.arg);
}

/** Field name as written, with its argument: proc.aname[2]. */
export function fieldText(f: FieldNode): string {
  return f.arg === undefined ? f.name : `${f.name}[${f.arg}]`;
}

/** The operand as written: tolower(proc.name). */
export function operandText(o: Operand): string {
  return o.kind === 'field' ? fieldText(o) : `${o.fn}(${operandText(o.arg)})`;
}
