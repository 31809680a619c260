// DWARF's struct member offsets (src/kernel/dwarf.ts), on a unit made here:
// constant and DW_OP_plus_uconst locations, DIEs of other kinds read past,
// the first definition of a name kept, a struct not asked for left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DwarfError, memberOffsets } from '../src/kernel/dwarf.js';

const str = (s: string): number[] => [...Buffer.from(`${s}\0`)];

/** An abbreviation table: compile unit, struct, member (udata location), member (exprloc), base type. */
const abbrev = Buffer.from([
  1, 0x11, 1, 0x03, 0x08, 0, 0,
  2, 0x13, 1, 0x03, 0x08, 0, 0,
  3, 0x0d, 0, 0x03, 0x08, 0x38, 0x0f, 0, 0,
  4, 0x0d, 0, 0x03, 0x08, 0x38, 0x18, 0, 0,
  5, 0x24, 0, 0x03, 0x08, 0x0b, 0x0b, 0, 0,
  0,
]);

function unit(dies: number[]): Buffer {
  const body = Buffer.from([4, 0, 0, 0, 0, 0, 8, ...dies]); // version 4, abbrev offset 0, address size 8
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

test('memberOffsets: the asked members of the asked structs, by name', () => {
  const info = Buffer.concat([
    unit([1, ...str('a.go'),
      5, ...str('int'), 8,
      2, ...str('net.netFD'), 3, ...str('pfd'), 0, 3, ...str('other'), 0xc8, 0x01, 3, ...str('unasked'), 4, 0,
      2, ...str('net.skipped'), 3, ...str('pfd'), 7, 0,
      0]),
    unit([1, ...str('b.go'),
      2, ...str('internal/poll.FD'), 4, ...str('Sysfd'), 2, 0x23, 0x10, 0,
      2, ...str('net.netFD'), 3, ...str('pfd'), 99, 0,
      0]),
  ]);
  const got = memberOffsets({ info, abbrev }, new Map([['net.netFD', ['pfd', 'other']], ['internal/poll.FD', ['Sysfd']], ['absent', ['x']]]));
  assert.deepEqual(got, new Map([
    ['net.netFD', new Map([['pfd', 0], ['other', 200]])],
    ['internal/poll.FD', new Map([['Sysfd', 16]])],
  ]));
});

test('memberOffsets: a unit past the end, or a form it does not know, is an error', () => {
  const info = unit([1, ...str('a.go'), 0]);
  info.writeUInt32LE(1000, 0);
  assert.throws(() => memberOffsets({ info, abbrev }, new Map([['x', ['y']]])), DwarfError);
  const odd = Buffer.from([1, 0x11, 0, 0x03, 0x7f, 0, 0, 0]);
  assert.throws(() => memberOffsets({ info: unit([1, 0]), abbrev: odd }, new Map([['x', ['y']]])), /attribute form 0x7f/);
});
