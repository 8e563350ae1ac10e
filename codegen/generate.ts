import { basename } from 'node:path';
import type { Definitions } from '../runtime/definitions/model.js';
import { generateClient } from './client.js';
import { generateEnvelope } from './envelope.js';
import { generateHandlers } from './handlers.js';
import { generateMessages } from './messages.js';
import { planCode } from './plan.js';
import { header } from './text.js';
import { generateValidators } from './validators.js';

/** One generated file: its path relative to the output directory, and its text. */
export interface GeneratedFile {
  readonly path: string;
  readonly text: string;
}

export interface GenerateOptions {
  /** How the header names the definitions (default: the directory's base name). */
  readonly source?: string;
}

/**
 * Everything `edaflow codegen` writes, from a valid definitions model: message types, the envelope,
 * handler signatures, the client, precompiled validators and an index. Pure and deterministic: the
 * same definitions give byte-identical files, sorted by path. Throws an EdaflowError
 * (EDA_DEFINITIONS_INVALID) when two things the definitions declare would get the same TypeScript name.
 */
export async function generateCode(definitions: Definitions, options: GenerateOptions = {}): Promise<GeneratedFile[]> {
  const top = header(options.source ?? basename(definitions.root));
  const plan = planCode(definitions);
  const messages = await generateMessages(plan);
  const validators = generateValidators(plan);
  const files: GeneratedFile[] = [
    { path: 'messages.ts', text: messages },
    { path: 'envelope.ts', text: generateEnvelope() },
    { path: 'handlers.ts', text: generateHandlers(plan) },
    { path: 'client.ts', text: generateClient(plan) },
    { path: 'validators.js', text: validators.js },
    { path: 'validators.d.ts', text: validators.dts },
    { path: 'index.ts', text: generateIndex() },
  ];
  return files.map((file) => ({ path: file.path, text: top + '\n' + file.text })).sort((a, b) => (a.path < b.path ? -1 : 1));
}

function generateIndex(): string {
  return `export * from './messages.js';
export * from './envelope.js';
export * from './handlers.js';
export * from './client.js';
export * from './validators.js';
`;
}
