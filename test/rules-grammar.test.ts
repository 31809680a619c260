// Falco's condition grammar: precedence, parentheses, every operator, list
// values, modifiers, transformers, field arguments, and syntax errors with
// the offset where libsinsp's parser stops. Pure: no kernel.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCondition, ConditionSyntaxError } from '../src/rules/parser.js';
import type { Expr } from '../src/rules/ast.js';
import { SourceText } from '../src/rules/diagnostics.js';

/** A compact rendering of the tree: and(...), or(...), not(...), macro names, checks as written. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'and':
      return `and(${e.children.map(show).join(', ')})`;
    case 'or':
      return `or(${e.children.map(show).join(', ')})`;
    case 'not':
      return `not(${show(e.child)})`;
    case 'macro':
      return e.name;
    case 'unary':
      return `[${operand(e.left)} exists]`;
    case 'binary': {
      const r = e.right;
      const rhs = r.kind === 'value' ? (r.quoted ? JSON.stringify(r.value) : r.value)
        : r.kind === 'list' ? `(${r.items.map((i) => (i.quoted ? JSON.stringify(i.value) : i.value)).join(',')})`
        : r.kind === 'listref' ? `@${r.name}`
        : `val:${operand(r.operand)}`;
      return `[${operand(e.left)} ${e.op}${e.mod ? ` ${e.mod}` : ''} ${rhs}]`;
    }
  }
}

function operand(o: import('../src/rules/ast.js').Operand): string {
  return o.kind === 'field' ? (o.arg === undefined ? o.name : `${o.name}[${o.arg}]`) : `${o.fn}(${operand(o.arg)})`;
}

const p = (s: string): string => show(parseCondition(s));

function syntaxError(s: string): ConditionSyntaxError {
  try {
    parseCondition(s);
  } catch (e) {
    if (e instanceof ConditionSyntaxError) return e;
    throw e;
  }
  assert.fail(`expected a syntax error for: ${s}`);
}

describe('precedence', () => {
  test('not binds tighter than and, and tighter than or', () => {
    assert.equal(p('a or b and c'), 'or(a, and(b, c))');
    assert.equal(p('a and b or c'), 'or(and(a, b), c)');
    assert.equal(p('not a and b'), 'and(not(a), b)');
    assert.equal(p('not a or b and not c'), 'or(not(a), and(b, not(c)))');
    assert.equal(p('a and b and c or d or e and f'), 'or(and(a, b, c), d, and(e, f))');
  });

  test('parentheses group, and may follow and/or/not without a blank', () => {
    assert.equal(p('(a or b) and c'), 'and(or(a, b), c)');
    assert.equal(p('a and(b or c)'), 'and(a, or(b, c))');
    assert.equal(p('a or(b and c)'), 'or(a, and(b, c))');
    assert.equal(p('not(a or b)'), 'not(or(a, b))');
    assert.equal(p('not (a)'), 'not(a)');
    assert.equal(p('((a))'), 'a');
  });

  test('not not cancels; blanks include tabs and newlines', () => {
    assert.equal(p('not not a'), 'a');
    assert.equal(p('not\n\tnot\n not a'), 'not(a)');
    assert.equal(p('\n a\n  and\tb \n'), 'and(a, b)');
  });

  test('identifiers that start with a keyword are macros, not keywords', () => {
    assert.equal(p('notebook and order_x or andy'), 'or(and(notebook, order_x), andy)');
  });
});

describe('checks', () => {
  test('every comparison operator', () => {
    const cases: [string, string][] = [
      ['proc.name = bash', '[proc.name = bash]'],
      ['proc.name == bash', '[proc.name == bash]'],
      ['proc.name != bash', '[proc.name != bash]'],
      ['fd.num < 3', '[fd.num < 3]'],
      ['fd.num <= 3', '[fd.num <= 3]'],
      ['fd.num > 3', '[fd.num > 3]'],
      ['fd.num >= -1', '[fd.num >= -1]'],
      ['proc.cmdline contains x', '[proc.cmdline contains x]'],
      ['proc.cmdline icontains X', '[proc.cmdline icontains X]'],
      ['evt.buffer bcontains CAFEBABE', '[evt.buffer bcontains CAFEBABE]'],
      ['fd.name startswith /etc', '[fd.name startswith /etc]'],
      ['evt.buffer bstartswith 7f454c46', '[evt.buffer bstartswith 7f454c46]'],
      ['fd.name endswith .conf', '[fd.name endswith .conf]'],
      ["fd.name glob '/home/*/.ssh/*'", '[fd.name glob "/home/*/.ssh/*"]'],
      ['fd.name iglob *.PEM', '[fd.name iglob *.PEM]'],
      ["fd.name regex '[a-z]+/x'", '[fd.name regex "[a-z]+/x"]'],
      ['proc.name in (a, b)', '[proc.name in (a,b)]'],
      ['proc.name intersects (a)', '[proc.name intersects (a)]'],
      ['fd.name pmatch (/tmp, /var)', '[fd.name pmatch (/tmp,/var)]'],
      ['proc.pname exists', '[proc.pname exists]'],
    ];
    for (const [src, want] of cases) assert.equal(p(src), want, src);
  });

  test('operators need no blanks around symbols; word operators need one after', () => {
    assert.equal(p('fd.num>=0'), '[fd.num >= 0]');
    assert.equal(p("fd.typechar='f'"), '[fd.typechar = "f"]');
    assert.equal(p('proc.name in(a,b)'), '[proc.name in (a,b)]');
    assert.equal(p('fd.name contains\n/etc'), '[fd.name contains /etc]');
    assert.match(syntaxError('fd.name contains/etc').message, /expected a valid check operator/);
  });

  test('numbers: decimal, signed, hexadecimal', () => {
    assert.equal(p('proc.duration <= 5000000000'), '[proc.duration <= 5000000000]');
    assert.equal(p('evt.rawres >= -2'), '[evt.rawres >= -2]');
    assert.equal(p('evt.rawres > 0x1F'), '[evt.rawres > 0x1F]');
    assert.match(syntaxError('fd.num > abc').message, /expected a number value/);
  });

  test('list values: quoted items, empty lists, list names', () => {
    assert.equal(p('proc.name in ("a b", \'c\', d)'), '[proc.name in ("a b","c",d)]');
    assert.equal(p('proc.name in ()'), '[proc.name in ()]');
    assert.equal(p('proc.name in ( )'), '[proc.name in ()]');
    assert.equal(p('proc.name in shell_binaries'), '[proc.name in @shell_binaries]');
    assert.equal(p('proc.name in (shell_binaries, runc:[0:PARENT])'), '[proc.name in (shell_binaries,runc:[0:PARENT])]');
  });

  test('oneof / anyof / allof modify string operators with a list', () => {
    assert.equal(p('proc.name startswith anyof (my, bash)'), '[proc.name startswith anyof (my,bash)]');
    assert.equal(p('proc.name == oneof (a)'), '[proc.name == oneof (a)]');
    assert.equal(p('proc.name != allof(a, b)'), '[proc.name != allof (a,b)]');
    assert.equal(p('proc.name regex allof (my.*, .*exe)'), '[proc.name regex allof (my.*,.*exe)]');
    // not followed by a list: a plain value named like a modifier
    assert.equal(p('proc.name = anyof'), '[proc.name = anyof]');
  });

  test('field arguments: index, bare and quoted strings', () => {
    assert.equal(p('proc.aname[2] = sshd'), '[proc.aname[2] = sshd]');
    assert.equal(p('proc.args[0] exists'), '[proc.args[0] exists]');
    assert.equal(p('evt.arg[0] = x'), '[evt.arg[0] = x]');
    assert.equal(p('evt.arg.flags contains O_TRUNC'), '[evt.arg.flags contains O_TRUNC]');
    assert.equal(p('container.mount.dest[/proc*] exists'), '[container.mount.dest[/proc*] exists]');
    assert.equal(p('proc.env["HOME"] = /root'), '[proc.env[HOME] = /root]');
  });

  test('transformers on the left, val() and transformers on the right', () => {
    assert.equal(p('tolower(proc.name) = bash'), '[tolower(proc.name) = bash]');
    assert.equal(p('toupper( proc.name ) = BASH'), '[toupper(proc.name) = BASH]');
    assert.equal(p('len(basename(proc.exepath)) > 3'), '[len(basename(proc.exepath)) > 3]');
    assert.equal(p('b64(evt.arg.data) contains x'), '[b64(evt.arg.data) contains x]');
    assert.equal(p('proc.name = val(proc.pname)'), '[proc.name = val:proc.pname]');
    assert.equal(p('tolower(proc.name) = tolower(proc.pname)'), '[tolower(proc.name) = val:tolower(proc.pname)]');
    assert.equal(p('proc.pid in val(proc.apid)'), '[proc.pid in val:proc.apid]');
  });

  test('quoted strings and escapes (libsinsp unescape_str)', () => {
    assert.equal(p(String.raw`proc.cmdline = "a \"b\" c"`), String.raw`[proc.cmdline = "a \"b\" c"]`);
    assert.equal(p(String.raw`proc.cmdline = 'it\'s'`), `[proc.cmdline = "it's"]`);
    assert.equal(p(String.raw`proc.cmdline = "tab\there"`), '[proc.cmdline = "tab\\there"]');
    assert.equal(p(`proc.cmdline = "a 'b' c"`), `[proc.cmdline = "a 'b' c"]`);
    assert.match(syntaxError(String.raw`proc.cmdline = 'a\"b'`).message, /invalid \\" escape in '-quoted string/);
    assert.match(syntaxError(String.raw`proc.cmdline = "a\qb"`).message, /unsupported string escape sequence: \\q/);
  });
});

describe('syntax errors stop where libsinsp stops', () => {
  const cases: [string, RegExp, number][] = [
    ['', /filter input string is empty/, 0],
    ['proc.name =', /expected a string value/, 11],
    ['proc.name bash', /expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!='/, 10],
    ['(a and b', /expected a '\)' token/, 8],
    ['a and b)', /unexpected token after 'b', expecting 'or', 'and'/, 7],
    ['a andb', /expected blank or '\(' after 'and'/, 5],
    ['a or', /expected blank or '\(' after 'or'/, 4],
    ['a or ', /expected a '\(' token, a field check, or an identifier/, 5],
    ['proc.aname[2 = x', /expected a '\]' token/, 12],
    ['proc.name in (a, b', /expected a '\)' token/, 18],
    ['proc.name in (a,)', /expected a string value/, 16],
    ['tolower(proc.name = x', /expected a '\)' token closing the transformer/, 18],
    ['tolower(x) = y', /expected a field or a nested valid transformer/, 8],
    ['proc.name = val(x)', /expected a field within 'val' transformer/, 16],
    ['proc.name = "unterminated', /expected a string value or a field with a valid transformer/, 12],
  ];
  for (const [src, msg, offset] of cases) {
    test(JSON.stringify(src), () => {
      const e = syntaxError(src);
      assert.match(e.message, msg);
      assert.equal(e.offset, offset, `offset of "${e.message}"`);
    });
  }

  test('offsets map to line:col in the condition text', () => {
    const text = 'evt.type = open\n  and proc.name =\n';
    const e = syntaxError(text);
    const pos = SourceText.plain(text, 'cond').pos(e.offset);
    assert.deepEqual(pos, { file: 'cond', line: 3, col: 1 });
  });

  test('recursion depth is bounded', () => {
    const deep = `${'('.repeat(2000)}a${')'.repeat(2000)}`;
    assert.match(syntaxError(deep).message, /exceeded max depth limit of 1000/);
  });
});
