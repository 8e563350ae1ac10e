/**
 * Definitions that exercise what the example does not: names that need care (a global type name,
 * snake_case), nested `$defs` with the same key in two events, titled subschemas, a boolean schema,
 * an upcaster, a decider, a projection hook, query functions, a machine saga's activity, and a handler
 * taking events and commands.
 */
export const TRICKY_DEFINITIONS = `
edaflow: 1
topics: { things: {} }
events:
  Error:
    topic: things
    versions:
      1: { schema: { type: object, properties: { message: { type: string } } } }
  order_placed:
    topic: things
    versions:
      1:
        schema:
          type: object
          additionalProperties: false
          required: [kind, address]
          properties:
            kind: { enum: [small, large] }
            address: { $ref: '#/$defs/address' }
            shape:
              oneOf:
                - { type: object, title: Circle, required: [radius], properties: { radius: { type: number } } }
                - { type: object, title: Square, required: [side], properties: { side: { type: number } } }
            tags: { type: [array, 'null'], items: { type: string } }
          $defs:
            address: { type: object, required: [city], properties: { city: { type: string } } }
        examples: [{ kind: small, address: { city: Leeds } }]
  Shipped:
    topic: things
    versions:
      1:
        schema:
          type: object
          properties: { to: { $ref: '#/$defs/address' } }
          $defs: { address: { type: object, properties: { street: { type: string } } } }
      2:
        schema: { type: object, required: [to], properties: { to: { type: string } } }
        upcast: { handler: upcastShipped }
  Anything:
    topic: things
    versions:
      1: { schema: true }
commands:
  Ping: { schema: { type: object, required: [id], properties: { id: { type: string }, at: { type: string, format: date-time } } } }
handlers:
  onAnything: { on: [order_placed, Ping, Error], emits: [Shipped], sends: [Ping] }
  quiet: { on: Error }
  takesAnything: { on: Anything }
aggregates:
  Box:
    streamId: command.id
    initial: { shipped: 0 }
    evolve: { Shipped: { shipped: "{% state.shipped + 1 %}" } }
    handle: { Ping: { handler: decidePing } }
projections:
  Things:
    table: things
    key: [id]
    columns: { id: text, city: text }
    on:
      order_placed: { upsert: { id: "{% subject %}", city: "{% data.address.city %}" } }
      Shipped: { delete: { id: "{% subject %}" } }
    handler: hookThings
queries:
  allThings: { projection: Things }
  thingsInCity: { projection: Things, where: { city: "{% params.city %}", id: "{% params.\`thing id\` %}" } }
  customThings: { projection: Things, handler: findThings }
sagas:
  Flow:
    startedBy: order_placed
    machine:
      initial: working
      states:
        working:
          entry: [{ invoke: doThing }]
          on: { Shipped: { target: done, actions: [{ invoke: noteShipped }] } }
        done: { type: final }
`;

/** A handlers module for TRICKY_DEFINITIONS using every generated signature, the client and the validators. */
export const TRICKY_USAGE = `
import { createClient, defineHandlers, validateOrderPlaced, type EdaflowTransport, type ErrorData, type OrderPlacedV1Circle } from './generated/index.js';

export const circle: OrderPlacedV1Circle = { radius: 1 };
export const error: ErrorData = { message: 'boom' };

export default defineHandlers({
  onAnything: async (message, context) => {
    switch (message.type) {
      case 'order_placed':
        await context.emit('Shipped', { to: message.data.address.city });
        break;
      case 'Ping':
        await context.send('Ping', { id: message.data.id });
        break;
      case 'Error':
        break;
    }
  },
  quiet: () => {},
  takesAnything: (message) => {
    const data: unknown = message.data;
    void data;
  },
  upcastShipped: (data) => ({ to: data.to?.street ?? 'unknown' }),
  decidePing: (command, state) => (state['shipped'] === 0 ? [{ type: 'Shipped', data: { to: command.data.id } }] : []),
  hookThings: async (message, context) => {
    if (message.type === 'order_placed') await context.query('SELECT 1 WHERE $1 = $1', [message.data.kind]);
  },
  findThings: async (params, context) => (await context.query('SELECT * FROM things WHERE id = $1', [params['id']])).rows,
  doThing: async (input, context) => ({ saga: input.sagaId, attempt: context.attempt }),
  noteShipped: async (input) => input.message?.type,
});

export async function useClient(transport: EdaflowTransport): Promise<void> {
  const client = createClient(transport);
  await client.publish('order_placed', { kind: 'large', address: { city: 'York' } });
  await client.send('Ping', { id: 'p-1' });
  await client.query.allThings();
  await client.query.thingsInCity({ city: 'York', 'thing id': 't-1' });
  await client.query.customThings({ anything: 'goes' });
  const data: unknown = JSON.parse('{}');
  if (validateOrderPlaced(data)) console.log(data.address.city);
}
`;
