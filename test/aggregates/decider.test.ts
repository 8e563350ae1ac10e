import { beforeAll, describe, expect, it } from 'vitest';
import { createAggregate, evolveAll, type Aggregate, type AggregateState } from '../../runtime/aggregates/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { EdaflowError } from '../../runtime/errors/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import handlers from '../../definitions/handlers/index.js';

const address = { line1: '5 Harbour Rd', city: 'Bristol', postalCode: 'BS1 5TR', country: 'GB' };
const elsewhere = { line1: '9 Elm St', city: 'Bath', postalCode: 'BA1 1AA', country: 'GB' };
const createOrder = {
  orderId: 'o-1',
  customerId: 'c-42',
  items: [{ sku: 'TSHIRT-M-BLUE', quantity: 2, price: 19.5 }, { sku: 'MUG-WHITE', quantity: 1, price: 8 }],
  shippingAddress: address,
  billingAddress: address,
};

const command = (type: string, data: unknown): Envelope => createEnvelope(type, data, 'test-client');

/** Decides `cmd` against `state`, then evolves the state with what was decided. */
async function step(order: Aggregate, state: AggregateState, cmd: Envelope): Promise<{ events: Envelope[]; state: AggregateState }> {
  const events = await order.decide(cmd, state);
  return { events, state: await evolveAll(order, state, events) };
}

async function rejection(promise: Promise<unknown>): Promise<EdaflowError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(EdaflowError);
  return error as EdaflowError;
}

describe('the Order aggregate of the example, as a pure decider', () => {
  let definitions: Definitions;
  let catalog: MessageCatalog;
  let order: Aggregate;

  beforeAll(async () => {
    const result = await loadDefinitions('definitions');
    definitions = result.definitions!;
    catalog = MessageCatalog.build(definitions);
    order = createAggregate(definitions.aggregates.get('Order')!, { catalog, functions: handlers as unknown as HandlerFunctions, source: definitions.defaults.source });
  });

  it('handles the commands of its `handle` and starts from `initial`', async () => {
    expect([...order.commands].sort()).toEqual(['CancelOrder', 'ChangeShippingAddress', 'ConfirmOrder', 'CreateOrder']);
    expect(order.snapshotEvery).toBe(100);
    expect(await order.initialState()).toEqual({ status: 'none' });
    expect(await order.streamIdOf(command('ConfirmOrder', { orderId: 'o-77' }))).toBe('o-77');
  });

  it('creates, confirms and cancels an order, each event caused by its command', async () => {
    const create = command('CreateOrder', createOrder);
    const created = await step(order, await order.initialState(), create);
    expect(created.events).toHaveLength(1);
    const [event] = created.events;
    expect(event).toMatchObject({ type: 'OrderCreated', subject: 'o-1', source: 'shop', dataversion: 2, causationid: create.id, correlationid: create.correlationid, data: createOrder });
    expect(event!.id).not.toBe(create.id);
    expect(created.state).toEqual({ status: 'pending', customerId: 'c-42', items: createOrder.items, total: 47, shippingAddress: address });

    const confirmed = await step(order, created.state, command('ConfirmOrder', { orderId: 'o-1' }));
    expect(confirmed.events.map((e) => [e.type, e.data])).toEqual([['OrderConfirmed', { orderId: 'o-1' }]]);
    expect(confirmed.state['status']).toBe('confirmed');

    const cancelled = await step(order, confirmed.state, command('CancelOrder', { orderId: 'o-1', reason: 'Changed my mind' }));
    expect(cancelled.events.map((e) => [e.type, e.data])).toEqual([['OrderCancelled', { orderId: 'o-1', reason: 'Changed my mind', previousStatus: 'confirmed' }]]);
    expect(cancelled.state).toMatchObject({ status: 'cancelled', cancelReason: 'Changed my mind', total: 47 });
  });

  it('rejects with the `reject` message when `when` is false, deciding nothing', async () => {
    const pending = (await step(order, await order.initialState(), command('CreateOrder', createOrder))).state;
    const again = await rejection(order.decide(command('CreateOrder', createOrder), pending));
    expect(again).toMatchObject({ code: 'EDA_COMMAND_REJECTED', status: 409, message: 'Order already exists', retriable: false });
    expect(again.details).toMatchObject({ aggregate: 'Order', command: 'CreateOrder' });

    const cancelled = (await step(order, pending, command('CancelOrder', { orderId: 'o-1', reason: 'x' }))).state;
    expect((await rejection(order.decide(command('ConfirmOrder', { orderId: 'o-1' }), cancelled))).message).toBe('Can only confirm pending orders');
    expect((await rejection(order.decide(command('CancelOrder', { orderId: 'o-1', reason: 'x' }), cancelled))).message).toBe('Cannot cancel order in current status');
    expect((await rejection(order.decide(command('ConfirmOrder', { orderId: 'o-1' }), await order.initialState()))).message).toBe('Can only confirm pending orders');
  });

  it('decides ChangeShippingAddress with the typed decider of the handlers module', async () => {
    const change = command('ChangeShippingAddress', { orderId: 'o-1', shippingAddress: elsewhere });
    const missing = await rejection(order.decide(change, await order.initialState()));
    expect(missing).toMatchObject({ code: 'EDA_COMMAND_REJECTED', status: 409, message: 'order o-1 does not exist' });

    const pending = (await step(order, await order.initialState(), command('CreateOrder', createOrder))).state;
    const changed = await step(order, pending, change);
    expect(changed.events).toHaveLength(1);
    expect(changed.events[0]).toMatchObject({ type: 'ShippingAddressChanged', subject: 'o-1', dataversion: 1, causationid: change.id, data: { orderId: 'o-1', shippingAddress: elsewhere } });
    expect(changed.state['shippingAddress']).toEqual(elsewhere);

    // The same address again changes nothing: no event, no rejection.
    expect(await order.decide(change, changed.state)).toEqual([]);

    const cancelled = (await step(order, changed.state, command('CancelOrder', { orderId: 'o-1', reason: 'x' }))).state;
    expect((await rejection(order.decide(change, cancelled))).message).toBe('order o-1 is cancelled: its address cannot change');
  });

  it('evolves an OrderCreated stored as version 1 once it is upcast, as the store reads it', async () => {
    const v1 = createEnvelope('OrderCreated', { orderId: 'o-9', customerId: 'c-1', items: [{ sku: 'A', quantity: 3, price: 9.95 }], address }, 'old', { subject: 'o-9', dataversion: 1 });
    const latest = await catalog.toLatest(v1);
    if (!('envelope' in latest)) throw new Error(latest.problem.message);
    const state = await order.evolve(await order.initialState(), latest.envelope);
    expect(state).toMatchObject({ status: 'pending', shippingAddress: address, total: 29.849999999999998 });
  });

  it('leaves the state alone for an event it does not evolve, and does not mutate the state it is given', async () => {
    const initial = await order.initialState();
    const other = createEnvelope('PaymentCharged', {}, 'x');
    expect(await order.evolve(initial, other)).toBe(initial);
    const created = await evolveAll(order, initial, await order.decide(command('CreateOrder', createOrder), initial));
    expect(initial).toEqual({ status: 'none' });
    expect(created).not.toBe(initial);
  });

  it('refuses a command without the stream id it addresses', async () => {
    const error = await rejection(order.streamIdOf(command('ConfirmOrder', {})));
    expect(error.code).toBe('EDA_PAYLOAD_INVALID');
    expect(error.message).toContain('command.orderId');
  });
});

const SMALL = `
topics: { t: {} }
events:
  Opened: { topic: t, versions: { 1: { schema: { type: object, required: [id], properties: { id: { type: string }, by: { type: string } } } } } }
  Noted: { topic: t, versions: { 1: { schema: { type: object, required: [text], properties: { text: { type: string, minLength: 1 } }, additionalProperties: false } } } }
  Audited: { topic: t, versions: { 1: { schema: { type: object } } } }
commands:
  Open: { schema: { type: object, required: [id], properties: { id: { type: string }, by: { type: string }, note: { type: string } } } }
  Note: { schema: { type: object, required: [id], properties: { id: { type: string }, text: { type: string } } } }
  Sneak: { schema: { type: object, required: [id], properties: { id: { type: string } } } }
  Peek: { schema: { type: object, required: [id], properties: { id: { type: string } } } }
aggregates:
  Box:
    streamId: "'box-' & command.id"
    initial: { notes: 0, opened: false }
    evolve:
      Opened: { opened: true, by: "{% data.by %}" }
      Noted: { notes: "{% state.notes + 1 %}", last: "{% data.text %}", at: "{% time %}" }
    handle:
      Open:
        when: "$not(state.opened)"
        emit: [Opened, { event: Noted, data: { text: "{% 'opened by ' & command.by %}" } }]
      Note: { emit: { event: Noted, data: { text: "{% command.text %}" } } }
      Sneak: { handler: sneak }
      Peek: { when: state.opened, reject: Box is closed, handler: peek }
`;

describe('deciders built from in-memory definitions', () => {
  let catalog: MessageCatalog;
  let box: Aggregate;
  const functions = {
    sneak: () => [{ type: 'Audited', data: {} }],
    peek: (cmd: Envelope, state: AggregateState) => [{ type: 'Noted', data: { text: `peeked at ${String(state['notes'])} notes of ${cmd.subject ?? (cmd.data as { id: string }).id}` } }],
  } as unknown as HandlerFunctions;

  beforeAll(async () => {
    const result = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': SMALL }, '/d') });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const definitions = result.definitions!;
    catalog = MessageCatalog.build(definitions);
    box = createAggregate(definitions.aggregates.get('Box')!, { catalog, functions, source: 'test' });
  });

  it('emits a list of events in order, each from the state before the command; evolve templates see state, data and time', async () => {
    const open = command('Open', { id: '1', by: 'ann' });
    expect(await box.streamIdOf(open)).toBe('box-1');
    const events = await box.decide(open, await box.initialState());
    expect(events.map((e) => [e.type, e.subject, e.data])).toEqual([
      ['Opened', 'box-1', { id: '1', by: 'ann' }],
      ['Noted', 'box-1', { text: 'opened by ann' }],
    ]);
    const state = await evolveAll(box, await box.initialState(), events);
    expect(state).toEqual({ notes: 1, opened: true, by: 'ann', last: 'opened by ann', at: events[1]!.time });
  });

  it('rejects a failed `when` without a `reject` message, saying which guard failed', async () => {
    const opened = await evolveAll(box, await box.initialState(), await box.decide(command('Open', { id: '1' }), await box.initialState()));
    const error = await rejection(box.decide(command('Open', { id: '1' }), opened));
    expect(error).toMatchObject({ code: 'EDA_COMMAND_REJECTED', status: 409 });
    expect(error.message).toContain('$not(state.opened)');
  });

  it('refuses to emit an event whose data fails its schema: a server bug, not a rejection', async () => {
    const error = await rejection(box.decide(command('Note', { id: '1', text: '' }), await box.initialState()));
    expect(error.code).toBe('EDA_DECIDED_EVENT_INVALID');
    expect(error.status).toBeUndefined();
    expect(error.message).toContain('Box decided an invalid event for Note');
    expect(error.message).toContain('/text');
  });

  it('refuses an event a typed decider returns that the aggregate does not evolve', async () => {
    const error = await rejection(box.decide(command('Sneak', { id: '1' }), await box.initialState()));
    expect(error.code).toBe('EDA_DECIDED_EVENT_INVALID');
    expect(error.message).toContain('Audited, which the aggregate does not evolve');
  });

  it('checks `when` before running a typed decider', async () => {
    const peek = command('Peek', { id: '1' });
    expect((await rejection(box.decide(peek, await box.initialState()))).message).toBe('Box is closed');
    const opened = await evolveAll(box, await box.initialState(), await box.decide(command('Open', { id: '1' }), await box.initialState()));
    expect((await box.decide(peek, opened)).map((e) => e.data)).toEqual([{ text: 'peeked at 1 notes of 1' }]);
  });

  it('changes its fingerprint when initial or evolve change, so old snapshots are ignored', async () => {
    const changed = SMALL.replace('initial: { notes: 0, opened: false }', 'initial: { notes: 10, opened: false }');
    const result = await loadDefinitions('/d', { fileSystem: memoryFileSystem({ 'a.yaml': changed }, '/d') });
    const other = createAggregate(result.definitions!.aggregates.get('Box')!, { catalog, functions, source: 'test' });
    expect(other.fingerprint).not.toBe(box.fingerprint);
  });
});
