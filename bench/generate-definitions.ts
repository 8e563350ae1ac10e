/**
 * Writes a large, valid definitions set for benchmarks: `events` events (every fifth with a second,
 * upcast version), the commands the sagas send, `sagas` step sagas and `projections` projections with queries.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface Size {
  readonly events: number;
  readonly sagas: number;
  readonly projections: number;
}

export function generateDefinitions(dir: string, size: Size): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const topics = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`topic-${i}`, { partitions: 3 }]));
  writeFileSync(join(dir, 'app.yaml'), stringify({ edaflow: 1, defaults: { source: 'bench' }, topics }));
  const chunk = 50;
  for (let start = 0; start < size.events; start += chunk) {
    const events: Record<string, unknown> = {};
    const commands: Record<string, unknown> = {};
    for (let i = start; i < Math.min(start + chunk, size.events); i++) events[`Event${i}`] = event(i);
    for (let i = start; i < Math.min(start + chunk, size.events); i++) {
      if (sentCommands(size).has(i)) commands[`Command${i}`] = { schema: v1Schema(i), examples: [v1Example(i)] };
    }
    writeFileSync(join(dir, `events-${start}.yaml`), stringify({ events, commands }));
  }
  const sagas: Record<string, unknown> = {};
  for (let i = 0; i < size.sagas; i++) sagas[`Saga${i}`] = saga(i, size.events);
  writeFileSync(join(dir, 'sagas.yaml'), stringify({ sagas }));
  const projections: Record<string, unknown> = {};
  const queries: Record<string, unknown> = {};
  for (let i = 0; i < size.projections; i++) {
    projections[`Projection${i}`] = projection(i, size.events);
    queries[`query${i}`] = { projection: `Projection${i}`, where: { id: '{% params.id %}' }, single: true };
  }
  writeFileSync(join(dir, 'read-models.yaml'), stringify({ projections, queries }));
}

/** Indices of the commands that the sagas send (see `saga`). */
function sentCommands(size: Size): Set<number> {
  const sent = new Set<number>();
  for (let i = 0; i < size.sagas; i++) for (const k of [0, 1]) sent.add((i * 7 + k) % size.events);
  return sent;
}

/** Every schema differs (a property of its own), as in a real project: nothing can be shared between them. */
function v1Schema(i: number): unknown {
  return {
    type: 'object',
    required: ['id', 'amount', 'address'],
    additionalProperties: false,
    properties: {
      id: { type: 'string' },
      amount: { type: 'number', minimum: 0 },
      address: { type: 'string' },
      tags: { type: 'array', items: { type: 'string' } },
      [`detail${i}`]: { type: 'string', maxLength: 100 + i },
    },
  };
}

function v1Example(i: number): unknown {
  return { id: `id-${i}`, amount: i, address: `${i} Main St`, [`detail${i}`]: 'x' };
}

function event(i: number): unknown {
  const versions: Record<string, unknown> = { 1: { schema: v1Schema(i), examples: [v1Example(i)] } };
  if (i % 5 === 0) {
    versions[2] = {
      schema: {
        type: 'object',
        required: ['id', 'amount', 'shippingAddress'],
        additionalProperties: false,
        properties: { id: { type: 'string' }, amount: { type: 'number' }, shippingAddress: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } }, [`detail${i}`]: { type: 'string', maxLength: 100 + i } },
      },
      upcast: { set: { shippingAddress: '{% address %}' }, remove: ['address'] },
    };
  }
  return { topic: `topic-${i % 20}`, versions };
}

function saga(i: number, events: number): unknown {
  const e = (k: number): string => `Event${(i * 7 + k) % events}`;
  const c = (k: number): string => `Command${(i * 7 + k) % events}`;
  return {
    startedBy: e(0),
    correlate: { [e(0)]: 'subject', [e(1)]: 'data.id' },
    context: { id: '{% data.id %}', amount: '{% data.amount %}' },
    timeout: '1h',
    steps: [
      { name: 'first', send: { command: c(0), data: { id: '{% context.id %}', amount: 1, address: 'x' } }, await: { success: e(1), failure: e(2), timeout: '30s' }, compensate: { send: { command: c(1), data: { id: '{% context.id %}', amount: 0, address: 'x' } } } },
      { name: 'second', invoke: 'activity', retry: { attempts: 3 }, timeout: '10s' },
      { name: 'third', emit: { event: e(3), data: { id: '{% context.id %}', amount: '{% context.amount %}', address: 'x' } } },
    ],
  };
}

function projection(i: number, events: number): unknown {
  const e = (k: number): string => `Event${(i * 3 + k) % events}`;
  return {
    table: `projection_${i}`,
    key: ['id'],
    columns: { id: 'text', amount: 'numeric', status: 'text', updated_at: 'timestamptz' },
    on: {
      [e(0)]: { upsert: { id: '{% data.id %}', amount: '{% data.amount %}', status: 'new', updated_at: '{% time %}' } },
      [e(1)]: { update: { status: 'done', updated_at: '{% time %}' }, where: { id: '{% data.id %}' } },
      [e(2)]: { delete: { id: '{% data.id %}' } },
    },
  };
}
