/**
 * `edaflow graph` on the example definitions, through the built CLI (run `npx tsc -p tsconfig.json` first).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = join(process.cwd(), 'bin/edaflow.js');
const edaflow = (...args: string[]) => spawnSync(process.execPath, [cli, 'graph', ...args], { encoding: 'utf8' });

/** The Mermaid blocks of the Markdown output, by their `## ` title. */
function diagrams(markdown: string): Map<string, string[]> {
  const blocks = new Map<string, string[]>();
  for (const match of markdown.matchAll(/^## (.+)\n\n```mermaid\n([\s\S]*?)\n```$/gm)) blocks.set(match[1]!, match[2]!.split('\n').map((line) => line.trim()));
  return blocks;
}

describe('edaflow graph', () => {
  const all = edaflow('definitions');
  const blocks = diagrams(all.stdout);

  it('prints every saga and the topology as Markdown Mermaid blocks, sagas sorted by name', () => {
    expect(all.status, all.stderr).toBe(0);
    expect([...blocks.keys()]).toEqual(['Saga DeliveryTracking', 'Saga OrderFulfillment', 'Topology']);
    expect(all.stdout.match(/```/g)).toHaveLength(6);
  });

  it('draws the steps saga: steps in order, failures to compensation, compensations back, final states', () => {
    const lines = blocks.get('Saga OrderFulfillment')!;
    expect(lines[0]).toBe('stateDiagram-v2');
    for (const line of [
      '[*] --> reserveInventory',
      'reserveInventory --> chargePayment: InventoryReserved',
      'reserveInventory --> compensating: InventoryReservationFailed',
      'reserveInventory --> compensating: timeout 30s',
      'reserveInventory --> compensating: saga timeout 1h',
      'chargePayment --> recordPayment: chargePayment done',
      'chargePayment --> compensating: chargePayment failed',
      'recordPayment --> ship',
      'ship --> confirm: ShipmentCreated',
      'confirm --> completed',
      'compensating --> compensate_chargePayment: [chargePayment completed]',
      'compensating --> compensate_reserveInventory: [reserveInventory completed]',
      'compensating --> failed',
      'compensate_chargePayment --> compensating: chargePayment compensated',
      'compensate_reserveInventory --> compensating',
      'completed --> [*]',
      'failed --> [*]',
    ]) expect(lines).toContain(line);
  });

  it('draws the machine saga with its guards, assigns (self transitions) and durable `after` timers', () => {
    const lines = blocks.get('Saga DeliveryTracking')!;
    for (const line of [
      '[*] --> inTransit',
      'inTransit --> inTransit: ShipmentDelayed',
      'inTransit --> delivered: ShipmentDelivered',
      'inTransit --> escalated: [context.delays >= 3]',
      'inTransit --> lost: after 10d',
      'escalated --> lost: after 7d',
      'delivered --> [*]',
      'lost --> [*]',
    ]) expect(lines).toContain(line);
  });

  it('draws the topology from producers through topics and queues to consumers', () => {
    const lines = blocks.get('Topology')!;
    expect(lines[0]).toBe('flowchart LR');
    for (const line of [
      'http --> command_CreateOrder',
      'command_CreateOrder --> aggregate_Order',
      'aggregate_Order --> event_OrderCreated',
      'aggregate_Order --> eventStore',
      'event_OrderCreated --> topic_orders',
      'topic_orders --> saga_OrderFulfillment',
      'topic_orders --> handler_refundCancelledOrder',
      'topic_orders --> stream_LargeOrders',
      'topic_payments --> projection_PaymentStatus',
      'eventStore --> projection_OrderSummary',
      'projection_OrderSummary --> query_orderById',
      'saga_OrderFulfillment --> command_ReserveInventory',
      'saga_OrderFulfillment --> event_PaymentProcessed',
      'command_ReserveInventory --> handler_reserveInventory',
      'handler_reserveInventory --> event_InventoryReserved',
      'command_CreateShipment --> queue_shipping',
      'queue_shipping --> handler_createShipment',
      'topic_shipping_events --> saga_DeliveryTracking',
      'saga_DeliveryTracking --> command_NotifyCustomer',
      'stream_OrderPaid --> event_OrderPaid',
      // Produced by nothing in the definitions: it comes from outside.
      'http --> event_PaymentFailed',
    ]) expect(lines).toContain(line);
    expect(lines).toContain('topic_shipping_events{{"topic: shipping-events"}}');
    const edges = lines.filter((line) => line.includes(' --> '));
    expect(edges).toEqual([...edges].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('prints the same text every time', () => {
    expect(edaflow('definitions').stdout).toBe(all.stdout);
  });

  it('prints one saga with --saga and only the topology with --topology', () => {
    const saga = edaflow('definitions', '--saga', 'OrderFulfillment');
    expect(saga.status, saga.stderr).toBe(0);
    expect([...diagrams(saga.stdout).keys()]).toEqual(['Saga OrderFulfillment']);
    const topology = edaflow('definitions', '--topology');
    expect(topology.status, topology.stderr).toBe(0);
    expect([...diagrams(topology.stdout).keys()]).toEqual(['Topology']);
  });

  it('names the sagas there are when asked for one that is not', () => {
    const missing = edaflow('definitions', '--saga', 'Nope');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no saga named Nope (sagas: DeliveryTracking, OrderFulfillment)');
  });
});
