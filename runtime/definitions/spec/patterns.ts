/**
 * Patterns of names and durations. They are plain `pattern`s (not custom ajv formats) so that the
 * language's validator can be compiled ahead of time; `structure.ts` maps each back to its diagnostic.
 */
export const PATTERNS = {
  'message-name': '^[A-Za-z][A-Za-z0-9_]*$',
  'code-name': '^[A-Za-z_][A-Za-z0-9_]*$',
  'destination-name': '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  'sql-name': '^[a-z_][a-z0-9_]*$',
  duration: '^[0-9]+(ms|s|m|h|d)$',
  version: '^[1-9][0-9]*$',
} as const;

export type PatternName = keyof typeof PATTERNS;
