// Falco's condition grammar: a recursive-descent parser that follows libsinsp's
// (userspace/libsinsp/filter/parser.cpp) production by production, so the same
// text parses to the same tree and fails with the same message at the same place.
//
//   Expr        ::= OrExpr
//   OrExpr      ::= AndExpr ('or' (' ' AndExpr | '(' Expr ')'))*
//   AndExpr     ::= NotExpr ('and' (' ' NotExpr | '(' Expr ')'))*
//   NotExpr     ::= ('not' blank+)* ('not(' Expr ')' | Check)
//   Check       ::= '(' Expr ')' | Operand Condition | Identifier          (identifier = macro)
//   Operand     ::= Field | Transformer '(' Operand ')'
//   Field       ::= FieldName ('[' (QuotedStr | FieldArgBareStr) ']')?
//   Condition   ::= 'exists'
//                 | NumOp (NumValue | RhsField)
//                 | StrOp (Modifier ListValue | StrValue | RhsField)
//                 | ListOp (ListValue | RhsField)
//   ListValue   ::= '(' (StrValue (',' StrValue)*)? ')' | Identifier
//   RhsField    ::= 'val(' Field ')' | Transformer '(' Operand ')'
//
// Precedence is therefore not > and > or; `and`/`or` need a blank or '(' after them.
// Lexing is by prefix at the cursor, as libsinsp does (operators are tried in a
// fixed order; word operators need a blank after them).
import {
  LIST_OPS, NUM_OPS, STR_OPS, TRANSFORMERS,
  type BinaryOp, type Expr, type FieldNode, type ListNode, type Modifier, type Operand, type Rhs,
  type Transformer, type ValueNode,
} from './ast.js';

/** A syntax error at an offset of the condition text. */
export class ConditionSyntaxError extends Error {
  override readonly name = 'ConditionSyntaxError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const RGX_NOT_BLANK = /not[ \t\b\r\n\v\f]+/y;
const RGX_IDENTIFIER = /[a-zA-Z]+[a-zA-Z0-9_]*/y;
const RGX_FIELD_NAME = /[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+/y;
const RGX_FIELD_ARG_BARE = /[^\][\s"']+/y;
const RGX_HEX_NUM = /0[xX][0-9a-fA-F]+/y;
const RGX_NUMBER = /[+-]?[0-9]+\.?[0-9]*(?:[eE][+-][0-9]+)?/y;
const RGX_BARE_STR = /[^()\s"'=,]+/y;
const RGX_MODIFIER = /(oneof|anyof|allof)(?=[ \t\b\r\n]*\()/y;

const MAX_DEPTH = 1000;

function isBlank(c: number): boolean {
  // ' ', \t, \b, \r, \n (libsinsp's lex_blank)
  return c === 32 || c === 9 || c === 8 || c === 13 || c === 10;
}

function quote(list: readonly string[]): string {
  return list.map((s) => `'${s}'`).join(', ');
}

const SUPPORTED_OPS = ['exists', ...NUM_OPS, ...STR_OPS, ...LIST_OPS];
const SUPPORTED_TRANSFORMERS = ['val', ...TRANSFORMERS];

/**
 * libsinsp's unescape_str: the text between the quotes, with \b \f \n \r \t \\ \/
 * and the escaped delimiter; "\ " is kept as a backslash (libsinsp's compatibility quirk).
 */
export function unescapeQuoted(token: string, offset: number): string {
  const delim = token[0];
  let out = '';
  let escaped = false;
  for (let i = 1; i < token.length - 1; i++) {
    const c = token[i]!;
    if (!escaped) {
      if (c === '\\') escaped = true;
      else out += c;
      continue;
    }
    switch (c) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case ' ':
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case '"':
        if (delim !== '"') throw new ConditionSyntaxError(`invalid \\" escape in '-quoted string`, offset + i);
        out += '"';
        break;
      case "'":
        if (delim !== "'") throw new ConditionSyntaxError(`invalid \\' escape in "-quoted string`, offset + i);
        out += "'";
        break;
      default:
        throw new ConditionSyntaxError(`unsupported string escape sequence: \\${c}`, offset + i);
    }
    escaped = false;
  }
  return out;
}

class Parser {
  private pos = 0;
  private depth = 0;
  private last = '';

  constructor(private readonly input: string) {}

  parse(): Expr {
    if (this.input.length === 0) throw new ConditionSyntaxError('filter input string is empty', 0);
    const res = this.parseOr();
    if (this.pos !== this.input.length) {
      throw this.error(`unexpected token after '${this.last}', expecting 'or', 'and'`);
    }
    return res;
  }

  private error(message: string, at = this.pos): ConditionSyntaxError {
    return new ConditionSyntaxError(message, at);
  }

  private enter(): void {
    if (++this.depth >= MAX_DEPTH) throw this.error(`exceeded max depth limit of ${MAX_DEPTH}`);
  }

  private leave(): void {
    this.depth--;
  }

  // ---- lexing ----

  private lexBlank(): boolean {
    let found = false;
    while (this.pos < this.input.length && isBlank(this.input.charCodeAt(this.pos))) {
      this.pos++;
      found = true;
    }
    return found;
  }

  private lexStr(s: string): boolean {
    if (this.input.startsWith(s, this.pos)) {
      this.last = s;
      this.pos += s.length;
      return true;
    }
    return false;
  }

  private lexRgx(re: RegExp): boolean {
    re.lastIndex = this.pos;
    const m = re.exec(this.input);
    if (!m || m[0].length === 0) return false;
    this.last = m[0];
    this.pos += m[0].length;
    return true;
  }

  /** A word operator: the word and one blank (libsinsp wants a space; any blank is accepted). */
  private lexWordOp(word: string): boolean {
    if (!this.input.startsWith(word, this.pos)) return false;
    const next = this.input.charCodeAt(this.pos + word.length);
    if (!isBlank(next) && next !== 11 && next !== 12) return false;
    this.last = word;
    this.pos += word.length + 1;
    return true;
  }

  private lexQuoted(): boolean {
    const start = this.pos;
    const delim = this.input[start];
    if (delim !== '"' && delim !== "'") return false;
    let prev = '\\';
    for (let i = start; i < this.input.length; i++) {
      const c = this.input[i]!;
      if (c === delim && prev !== '\\') {
        const token = this.input.slice(start, i + 1);
        this.pos = i + 1;
        this.last = unescapeQuoted(token, start);
        return true;
      }
      prev = c;
    }
    return false;
  }

  private lexTransformer(): Transformer | undefined {
    for (const t of TRANSFORMERS) {
      if (this.lexStr(`${t}(`)) return t;
    }
    return undefined;
  }

  // ---- productions ----

  private parseOr(): Expr {
    return this.parseChain('or', () => this.parseAnd());
  }

  private parseAnd(): Expr {
    return this.parseChain('and', () => this.parseNot());
  }

  /** operand (op operand)...: one flat node for the chain; a lone operand is itself. */
  private parseChain(op: 'or' | 'and', operand: () => Expr): Expr {
    this.enter();
    const pos = this.pos;
    const children: Expr[] = [];
    this.lexBlank();
    children.push(operand());
    this.lexBlank();
    while (this.lexStr(op)) {
      if (!this.lexBlank()) {
        if (this.lexStr('(')) children.push(this.parseEmbeddedRemainder());
        else throw this.error(`expected blank or '(' after '${op}'`);
      } else {
        children.push(operand());
      }
      this.lexBlank();
    }
    this.leave();
    return children.length > 1 ? { kind: op, children, pos } : children[0]!;
  }

  private parseNot(): Expr {
    this.enter();
    this.lexBlank();
    const pos = this.pos;
    let negate = false;
    while (this.lexRgx(RGX_NOT_BLANK)) negate = !negate;
    let child: Expr;
    if (this.lexStr('not(')) {
      negate = !negate;
      child = this.parseEmbeddedRemainder();
    } else {
      child = this.parseCheck();
    }
    this.leave();
    return negate ? { kind: 'not', child, pos } : child;
  }

  /** The rest of a parenthesised expression, after its '('. */
  private parseEmbeddedRemainder(): Expr {
    this.enter();
    this.lexBlank();
    const child = this.parseOr();
    this.lexBlank();
    if (!this.lexStr(')')) throw this.error("expected a ')' token");
    this.leave();
    return child;
  }

  private parseCheck(): Expr {
    this.enter();
    this.lexBlank();
    const pos = this.pos;
    let res: Expr;
    if (this.lexStr('(')) {
      res = this.parseEmbeddedRemainder();
    } else if (this.lexRgx(RGX_FIELD_NAME)) {
      const left = this.parseFieldRemainder(this.last, pos);
      res = this.parseCondition(left, pos);
    } else {
      const t = this.lexTransformer();
      if (t) {
        this.lexBlank();
        const left = this.parseTransformerRemainder(t, pos);
        res = this.parseCondition(left, pos);
      } else if (this.lexRgx(RGX_IDENTIFIER)) {
        res = { kind: 'macro', name: this.last, pos };
      } else {
        throw this.error("expected a '(' token, a field check, or an identifier");
      }
    }
    this.leave();
    return res;
  }

  private parseFieldRemainder(name: string, pos: number): FieldNode {
    if (!this.lexStr('[')) return { kind: 'field', name, pos };
    if (!this.lexQuoted() && !this.lexRgx(RGX_FIELD_ARG_BARE)) {
      throw this.error('expected a valid field argument: a quoted string or a bare string');
    }
    const arg = this.last;
    if (!this.lexStr(']')) throw this.error("expected a ']' token");
    return { kind: 'field', name, arg, pos };
  }

  /** The rest of tolower( ... ), after its '('. */
  private parseTransformerRemainder(fn: Transformer, pos: number): Operand {
    this.enter();
    this.lexBlank();
    const argPos = this.pos;
    let arg: Operand | undefined;
    const nested = this.lexTransformer();
    if (nested) {
      this.lexBlank();
      arg = this.parseTransformerRemainder(nested, argPos);
    } else if (this.lexRgx(RGX_FIELD_NAME)) {
      arg = this.parseFieldRemainder(this.last, argPos);
    }
    if (!arg) {
      throw this.error(`expected a field or a nested valid transformer: ${quote(SUPPORTED_TRANSFORMERS)}`);
    }
    this.lexBlank();
    if (!this.lexStr(')')) throw this.error("expected a ')' token closing the transformer");
    this.leave();
    return { kind: 'transform', fn, arg, pos };
  }

  private parseCondition(left: Operand, pos: number): Expr {
    this.enter();
    this.lexBlank();
    const opPos = this.pos;
    if (this.lexStr('exists')) {
      this.leave();
      return { kind: 'unary', left, op: 'exists', pos };
    }
    this.lexBlank();
    let op: BinaryOp | undefined;
    let mod: Modifier | undefined;
    let right: Rhs;
    if ((op = NUM_OPS.find((o) => this.lexStr(o)))) {
      right = this.parseNumValueOrTransformer();
    } else if ((op = STR_OPS.find((o) => (o.length <= 2 ? this.lexStr(o) : this.lexWordOp(o))))) {
      this.lexBlank();
      if (this.lexRgx(RGX_MODIFIER)) {
        mod = this.last as Modifier;
        right = this.parseListValue();
        if (right.kind !== 'list') throw this.error(`expected a list after '${mod}'`);
      } else {
        right = this.parseStrValueOrTransformer(false);
      }
    } else if ((op = LIST_OPS.find((o) => this.lexStr(o)))) {
      right = this.parseListValueOrTransformer();
    } else {
      throw this.error(`expected a valid check operator: one of ${quote(SUPPORTED_OPS)}`);
    }
    this.leave();
    return mod ? { kind: 'binary', left, op, mod, right, pos, opPos } : { kind: 'binary', left, op, right, pos, opPos };
  }

  private parseNumValueOrTransformer(): Rhs {
    this.enter();
    this.lexBlank();
    const pos = this.pos;
    const rhs = this.tryParseTransformerOrVal();
    if (rhs) {
      this.leave();
      return rhs;
    }
    if (this.lexRgx(RGX_HEX_NUM) || this.lexRgx(RGX_NUMBER)) {
      this.leave();
      return { kind: 'value', value: this.last, quoted: false, pos };
    }
    throw this.error(`expected a number value or a field with a valid transformer: ${quote(SUPPORTED_TRANSFORMERS)}`);
  }

  private parseStrValue(): ValueNode | undefined {
    this.lexBlank();
    const pos = this.pos;
    if (this.lexQuoted()) return { kind: 'value', value: this.last, quoted: true, pos };
    if (this.lexRgx(RGX_BARE_STR)) return { kind: 'value', value: this.last, quoted: false, pos };
    return undefined;
  }

  private parseStrValueOrTransformer(noTransformer: boolean): Rhs {
    this.enter();
    this.lexBlank();
    if (!noTransformer) {
      const rhs = this.tryParseTransformerOrVal();
      if (rhs) {
        this.leave();
        return rhs;
      }
    }
    const v = this.parseStrValue();
    if (v) {
      this.leave();
      return v;
    }
    if (noTransformer) throw this.error('expected a string value');
    throw this.error(`expected a string value or a field with a valid transformer: ${quote(SUPPORTED_TRANSFORMERS)}`);
  }

  /** '(' items ')' or a list name. */
  private parseListValue(): ListNode | Rhs {
    this.lexBlank();
    const pos = this.pos;
    if (this.lexStr('(')) {
      const items: ValueNode[] = [];
      this.lexBlank();
      const first = this.parseStrValue();
      if (first) {
        items.push(first);
        this.lexBlank();
        while (this.lexStr(',')) {
          const v = this.parseStrValue();
          if (!v) throw this.error('expected a string value');
          items.push(v);
          this.lexBlank();
        }
      }
      if (!this.lexStr(')')) throw this.error("expected a ')' token");
      return { kind: 'list', items, pos };
    }
    if (this.lexRgx(RGX_IDENTIFIER)) return { kind: 'listref', name: this.last, pos };
    throw this.error('expected a list or an identifier');
  }

  private parseListValueOrTransformer(): Rhs {
    this.enter();
    this.lexBlank();
    let res: Rhs | undefined;
    if (this.input.startsWith('(', this.pos)) {
      res = this.parseListValue();
    } else {
      res = this.tryParseTransformerOrVal();
      if (!res) {
        const pos = this.pos;
        if (this.lexRgx(RGX_IDENTIFIER)) res = { kind: 'listref', name: this.last, pos };
      }
    }
    if (!res) {
      throw this.error(`expected a list, an identifier, or a field with a valid transformer: ${quote(SUPPORTED_TRANSFORMERS)}`);
    }
    this.leave();
    return res;
  }

  /** val(field) or a transformer, on the right-hand side; undefined when neither is there. */
  private tryParseTransformerOrVal(): Rhs | undefined {
    this.lexBlank();
    const pos = this.pos;
    if (this.lexStr('val(')) {
      this.lexBlank();
      const fieldPos = this.pos;
      if (!this.lexRgx(RGX_FIELD_NAME)) throw this.error("expected a field within 'val' transformer");
      const field = this.parseFieldRemainder(this.last, fieldPos);
      this.lexBlank();
      if (!this.lexStr(')')) throw this.error("expected a ')' token closing the transformer");
      return { kind: 'fieldref', operand: field, pos };
    }
    const t = this.lexTransformer();
    if (t) {
      this.lexBlank();
      return { kind: 'fieldref', operand: this.parseTransformerRemainder(t, pos), pos };
    }
    return undefined;
  }
}

/** Parses a condition; throws ConditionSyntaxError with the offset where parsing stopped. */
export function parseCondition(text: string): Expr {
  return new Parser(text).parse();
}

/** Falco's identifier rule (macro names): [a-zA-Z]+[a-zA-Z0-9_]*, whole. */
export function isIdentifier(s: string): boolean {
  return /^[a-zA-Z]+[a-zA-Z0-9_]*$/.test(s);
}

/** Falco's bare-string rule (list names and bare list items): no blanks, quotes, parentheses, '=' or ','. */
export function isBareString(s: string): boolean {
  return /^[^()\s"'=,]+$/.test(s);
}
