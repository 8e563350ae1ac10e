export { generateCode, type GeneratedFile, type GenerateOptions } from './generate.js';
export { HEADER_MARKER } from './text.js';
