import { DIAGNOSTIC_CODES, type DiagnosticCode } from '../errors/index.js';

export type Severity = 'error' | 'warning';

export interface Location {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine?: number;
  readonly endColumn?: number;
}

export interface Diagnostic extends Location {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly message: string;
  /** Other places the problem involves, e.g. the first definition of a duplicate. */
  readonly related?: readonly (Location & { readonly message: string })[];
}

/** Collects diagnostics; every check appends here so that all problems are reported, not just the first. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  /** What was reported, so that one problem reached twice (a schema shared through a YAML alias) is reported once. */
  private readonly seen = new Set<string>();

  add(code: DiagnosticCode, message: string, at: Location, extra: Partial<Pick<Diagnostic, 'severity' | 'related'>> = {}): void {
    const severity = extra.severity ?? 'error';
    const key = `${severity} ${code} ${at.file}:${at.line}:${at.column} ${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push({ ...at, code, message, severity, ...(extra.related ? { related: extra.related } : {}) });
  }

  warn(code: DiagnosticCode, message: string, at: Location): void {
    this.add(code, message, at, { severity: 'warning' });
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === 'error').length;
  }

  sorted(): Diagnostic[] {
    return [...this.items].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.code.localeCompare(b.code));
  }
}

export function describeCode(code: DiagnosticCode): string {
  return DIAGNOSTIC_CODES[code].summary;
}
