// Field masks (--fields): parsing, what they keep, and refusals. Pure.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldMask, FieldMaskError, maskEnvelopeLine } from '../src/output/field-mask.js';

describe('field masks', () => {
  const event = {
    process: { pid: 7, binary: '/bin/sh', process_credentials: { uid: 0, caps: { permitted: ['CAP_KILL'] } } },
    parent: { pid: 1, binary: '/sbin/init' },
    ancestors: [{ pid: 1, binary: '/sbin/init' }, { pid: 2, binary: '/bin/x' }],
    path: '/etc/passwd', op: 'open', flags: ['O_RDONLY'],
  };

  test('keeps the paths named; an object named whole stays whole; arrays are masked per element', () => {
    const m = FieldMask.parse('process.pid, process.process_credentials.caps ,path,ancestors.binary');
    assert.deepEqual(m.apply(event), {
      process: { pid: 7, process_credentials: { caps: { permitted: ['CAP_KILL'] } } },
      path: '/etc/passwd',
      ancestors: [{ binary: '/sbin/init' }, { binary: '/bin/x' }],
    });
    assert.deepEqual(FieldMask.parse('parent').apply(event), { parent: { pid: 1, binary: '/sbin/init' } });
  });

  test('a path and a path below it: the wider one wins; absent fields are left out', () => {
    assert.deepEqual(FieldMask.parse('process,process.pid').apply(event), { process: event.process });
    assert.deepEqual(FieldMask.parse('process.pid,process').apply(event), { process: event.process });
    assert.deepEqual(FieldMask.parse('nothing_here,process.nope').apply(event), { process: {} });
  });

  test('field(): the whole field, the mask below it, or nothing', () => {
    const m = FieldMask.parse('process.pid,path');
    assert.equal(m.field('path'), true);
    assert.equal(m.field('parent'), undefined);
    const sub = m.field('process');
    assert.ok(sub instanceof FieldMask);
    assert.deepEqual(sub.apply(event.process), { pid: 7 });
    // One object per field: the formatter keeps a masked process's text by its mask (not remade per event).
    assert.equal(m.field('process'), sub);
  });

  test('bad lists are refused with the path and why', () => {
    for (const [list, message] of [
      ['', /expected dotted field paths/],
      [' , ', /expected dotted field paths/],
      ['process..pid', /"process\.\.pid": an empty name/],
      ['Process.pid', /"Process" is not a field name/],
      ['process.pid-x', /"pid-x" is not a field name/],
    ] as const) {
      assert.throws(() => FieldMask.parse(list), (e: unknown) => e instanceof FieldMaskError && message.test(e.message), list);
    }
  });

  test('an enveloped line: the kind\'s object masked, node_name and time kept', () => {
    const line = JSON.stringify({ flow: { source: { ip: '10.0.0.1', port: 1 }, verdict: 'FORWARDED' }, node_name: 'n', time: 't' });
    assert.equal(maskEnvelopeLine(line, FieldMask.parse('source.ip'), new Set(['flow'])),
      JSON.stringify({ flow: { source: { ip: '10.0.0.1' } }, node_name: 'n', time: 't' }));
  });
});
