import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCode } from '../../codegen/index.js';
import { loadDefinitions } from '../../runtime/definitions/index.js';
import { TRICKY_DEFINITIONS, TRICKY_USAGE } from './fixtures.js';
import { definitionsFrom, REPO, tempDir, tsc, USER_TSCONFIG, writeFiles } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** Generates code into a fresh directory with a user's strict tsconfig; returns the directory. */
async function project(definitions: Parameters<typeof generateCode>[0]): Promise<string> {
  const dir = tempDir();
  cleanups.push(dir.cleanup);
  writeFiles(join(dir.path, 'generated'), await generateCode(definitions));
  writeFileSync(join(dir.path, 'tsconfig.json'), USER_TSCONFIG);
  return dir.path;
}

describe('generated handler signatures', () => {
  it('reject a handler that emits an event it does not declare, and accept the declared one', async () => {
    const { definitions } = await loadDefinitions(join(REPO, 'definitions'));
    const dir = await project(definitions!);
    // reserveInventory declares `emits: [InventoryReserved, InventoryReservationFailed]`.
    writeFileSync(
      join(dir, 'handler.ts'),
      `import { defineHandlers, type ReserveInventoryHandler } from './generated/index.js';
export const reserve: ReserveInventoryHandler = async (message, context) => {
  await context.emit('InventoryReserved', { orderId: message.data.orderId, reservationId: 'r-1', items: message.data.items });
};
void defineHandlers;
`,
    );
    const declared = tsc(dir);
    expect(declared.output).toBe('');
    expect(declared.status).toBe(0);

    writeFileSync(
      join(dir, 'handler.ts'),
      `import type { ReserveInventoryHandler } from './generated/index.js';
export const reserve: ReserveInventoryHandler = async (message, context) => {
  await context.emit('OrderConfirmed', { orderId: message.data.orderId });
};
`,
    );
    const undeclared = tsc(dir);
    expect(undeclared.status).not.toBe(0);
    expect(undeclared.output).toContain('handler.ts(3,22): error TS2345');
    expect(undeclared.output).toContain(`Argument of type '"OrderConfirmed"' is not assignable to parameter of type '"InventoryReservationFailed" | "InventoryReserved"'`);
    expect(undeclared.output.split('\n').filter((line) => line.includes('error'))).toHaveLength(1);
  });

  it('reject emit and send from a handler that declares neither, and data of the wrong shape', async () => {
    const { definitions } = await loadDefinitions(join(REPO, 'definitions'));
    const dir = await project(definitions!);
    writeFileSync(
      join(dir, 'handler.ts'),
      `import type { NotifyCustomerHandler, ReleaseInventoryHandler } from './generated/index.js';
export const notify: NotifyCustomerHandler = async (message, context) => {
  await context.emit('InventoryReleased', { orderId: message.data.orderId, reason: 'x' });
  await context.send('ReleaseInventory', { orderId: message.data.orderId, reason: 'x' });
};
export const release: ReleaseInventoryHandler = async (message, context) => {
  await context.emit('InventoryReleased', { orderId: message.data.orderId, reason: 42 });
};
`,
    );
    const result = tsc(dir);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain(`handler.ts(3,22): error TS2345: Argument of type '"InventoryReleased"' is not assignable to parameter of type 'never'`);
    expect(result.output).toContain(`handler.ts(4,22): error TS2345: Argument of type '"ReleaseInventory"' is not assignable to parameter of type 'never'`);
    expect(result.output).toMatch(/handler\.ts\(7,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  });

  it('compile for definitions with awkward names, shared $defs keys, every kind of typed function, the client and validators', async () => {
    const dir = await project(await definitionsFrom({ 'things.yaml': TRICKY_DEFINITIONS }));
    writeFileSync(join(dir, 'usage.ts'), TRICKY_USAGE);
    const result = tsc(dir);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('make defineHandlers insist on every named function', async () => {
    const dir = await project(await definitionsFrom({ 'things.yaml': TRICKY_DEFINITIONS }));
    // drop the upcaster: the handlers object no longer satisfies `Handlers`
    writeFileSync(join(dir, 'usage.ts'), TRICKY_USAGE.replace(/^ {2}upcastShipped: .*\n/m, ''));
    const result = tsc(dir);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/usage\.ts\(\d+,\d+\): error TS\d+: Property 'upcastShipped' is missing/);
  });
});
