import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OrderedLine } from './OrderedLine.js';

describe('OrderedLine', () => {
  test('behaves like an array line under any sequence of enqueues and removals', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('enqueue' as const), id: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ kind: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ kind: fc.constant('removeHead' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 4000 }), (ops) => {
        const line = new OrderedLine();
        const model: string[] = [];
        for (const o of ops) {
          if (o.kind === 'enqueue') {
            const id = `s${o.id}`;
            if (!model.includes(id)) model.push(id);
            assert.equal(line.enqueue(id), model.indexOf(id) + 1);
          } else {
            const id = o.kind === 'remove' ? `s${o.id}` : model[0];
            if (id === undefined) continue;
            const at = model.indexOf(id);
            if (at >= 0) model.splice(at, 1);
            assert.equal(line.remove(id), at >= 0);
          }
        }
        assert.equal(line.size, model.length);
        assert.equal(line.first(), model[0]);
        assert.deepEqual([...line], model);
        for (const [i, id] of model.entries()) assert.equal(line.position(id), i + 1);
      }),
      { numRuns: 60 },
    );
  });

  test('10,000 waiting: positions stay exact as the head and the middle leave', () => {
    const line = new OrderedLine();
    for (let i = 0; i < 10_000; i++) line.enqueue(`s${i}`);
    for (let i = 0; i < 5_000; i += 2) line.remove(`s${i}`);
    line.remove('s9999');
    assert.equal(line.size, 10_000 - 2_500 - 1);
    assert.equal(line.first(), 's1');
    assert.equal(line.position('s4999'), 2_500);
    assert.equal(line.position('s5000'), 2_501);
    assert.equal(line.position('s9998'), 7_499);
    assert.equal(line.position('s0'), undefined);
  });

  test('an entry with an earlier order key takes its place by key (another instance enqueued it first)', () => {
    const line = new OrderedLine();
    line.enqueue('a', 10);
    line.enqueue('b', 20);
    line.enqueue('c', 30);
    assert.equal(line.enqueue('x', 15), 2);
    assert.deepEqual([...line], ['a', 'x', 'b', 'c']);
    line.remove('a');
    assert.equal(line.position('c'), 3);
    assert.equal(line.enqueue('d', 40), 4);
  });
});
