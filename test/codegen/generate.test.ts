import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCode, HEADER_MARKER, type GeneratedFile } from '../../codegen/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { TRICKY_DEFINITIONS } from './fixtures.js';
import { definitionsFrom, tempDir, writeFiles } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

const fileText = (files: readonly GeneratedFile[], path: string): string => files.find((file) => file.path === path)!.text;

async function generationError(yaml: string): Promise<string> {
  try {
    await generateCode(await definitionsFrom({ 'a.yaml': yaml }));
  } catch (error) {
    expect(isEdaflowError(error, 'EDA_DEFINITIONS_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected generateCode to refuse these definitions');
}

const EVENT = (name: string, schema = '{ type: object }'): string => `  ${name}: { topic: t, versions: { 1: { schema: ${schema} } } }\n`;

describe('generateCode', () => {
  it('is deterministic: the same definitions in other files and order give the same bytes', async () => {
    const [head, rest] = TRICKY_DEFINITIONS.split(/^commands:$/m) as [string, string];
    const one = await generateCode(await definitionsFrom({ 'all.yaml': TRICKY_DEFINITIONS }, '/virtual/tricky'));
    const two = await generateCode(await definitionsFrom({ 'z-events.yaml': head, 'a-rest.yaml': `edaflow: 1\ncommands:${rest}` }, '/elsewhere/tricky'));
    expect(two).toEqual(one);
    for (const file of one) expect(file.text.startsWith(`// ${HEADER_MARKER} from tricky. Do not edit.\n`)).toBe(true);
  });

  it('names nested types after their message so two events may both define $defs.address', async () => {
    const files = await generateCode(await definitionsFrom({ 'a.yaml': TRICKY_DEFINITIONS }));
    const messages = fileText(files, 'messages.ts');
    expect(messages).toContain('export interface OrderPlacedV1Address {');
    expect(messages).toContain('export interface ShippedV1Address {');
    expect(messages).toContain('shape?: (OrderPlacedV1Circle | OrderPlacedV1Square)');
    expect(messages).not.toMatch(/^export interface Address\b/m);
    // a message named like a global type does not shadow it
    expect(messages).toContain('export type ErrorData = ErrorDataV1;');
    expect(messages).toContain('  Error: ErrorData;');
    expect(messages).toContain('export type AnythingV1 = unknown;');
  });

  it('types query parameters from the `params.x` a query uses', async () => {
    const client = fileText(await generateCode(await definitionsFrom({ 'a.yaml': TRICKY_DEFINITIONS })), 'client.ts');
    expect(client).toContain("thingsInCity: { readonly city: string; readonly 'thing id': string; };");
    expect(client).toContain('allThings(params?: QueryParams[\'allThings\']): Promise<unknown>;');
    expect(client).toContain("customThings: Readonly<Record<string, string>>;");
  });

  it('emits code that imports nothing but itself, and ajv and ajv-formats helpers in the validators', async () => {
    const files = await generateCode(await definitionsFrom({ 'a.yaml': TRICKY_DEFINITIONS }));
    for (const file of files) {
      expect(file.text, file.path).not.toMatch(/\brequire\(/);
      const imported = [...file.text.matchAll(/\bfrom ['"]([^'"]+)['"]/g)].map((match) => match[1]!);
      for (const specifier of imported) expect(specifier, `${file.path} imports ${specifier}`).toMatch(/^(\.\/[a-z]+\.js|ajv\/dist\/runtime\/[a-z0-9_]+\.js|ajv-formats\/dist\/formats\.js)$/);
    }
    expect(fileText(files, 'validators.js')).toMatch(/^import \* as ajvRuntime\d+Namespace from "ajv-formats\/dist\/formats\.js";$/m);
  });

  it('emits validators that run as an ES module', async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    writeFiles(dir.path, await generateCode(await definitionsFrom({ 'a.yaml': TRICKY_DEFINITIONS })));
    writeFileSync(join(dir.path, 'package.json'), '{ "type": "module" }\n');
    const validators = (await import(pathToFileURL(join(dir.path, 'validators.js')).href)) as Record<string, ((data: unknown) => boolean) & { errors?: { instancePath: string }[] | null }>;
    const placed = validators['validateOrderPlaced']!;
    expect(placed({ kind: 'small', address: { city: 'Leeds' } })).toBe(true);
    expect(placed({ kind: 'medium', address: { city: 'Leeds' }, extra: 1 })).toBe(false);
    expect(placed.errors?.map((error) => error.instancePath).sort()).toEqual(['', '/kind']);
    expect(validators['validateAnythingV1']!(42)).toBe(true);
    const ping = validators['validatePing']!;
    expect(ping({ id: 'p', at: '2025-01-01T00:00:00Z' })).toBe(true);
    expect(ping({ id: 'p', at: 'yesterday' })).toBe(false);
  });

  it('refuses two messages whose type names collide', async () => {
    const message = await generationError(`edaflow: 1\ntopics: { t: {} }\nevents:\n${EVENT('Paid')}${EVENT('PaidV1')}`);
    expect(message).toContain('the generated name PaidV1 would stand for both version 1 of event Paid and event PaidV1');
  });

  it('gives a message named like a type edaflow generates a Data suffix', async () => {
    const files = await generateCode(await definitionsFrom({ 'a.yaml': `edaflow: 1\ntopics: { t: {} }\nevents:\n${EVENT('Message')}${EVENT('Handlers')}` }));
    expect(fileText(files, 'messages.ts')).toContain('export type MessageData = MessageDataV1;');
    expect(fileText(files, 'messages.ts')).toContain('export type HandlersData = HandlersDataV1;');
  });
});
