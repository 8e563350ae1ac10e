export { loadDefinitions, type LoadOptions, type LoadResult } from './load.js';
export { formatDiagnostics, summary, type OutputFormat } from './format.js';
export { memoryFileSystem, diskFileSystem, type DefinitionsFileSystem } from './files.js';
export { parseDuration, formatDuration } from './duration.js';
export { retryPolicy, DEFAULT_RETRY } from './normalize.js';
export { definitionsFileSchema, SECTION_NAMES } from './spec/index.js';
export type { Diagnostic, Location, Severity } from './diagnostics.js';
export type * from './model.js';
export { IMPLICIT_BROKER, asList } from './model.js';
