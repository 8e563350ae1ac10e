import { codeFrameColumns } from '@babel/code-frame';
import type { Diagnostic } from './diagnostics.js';
import type { SourceFile } from './source.js';

export type OutputFormat = 'pretty' | 'json' | 'github';

/**
 * Renders diagnostics for people (with code frames), for programs (JSON), or as GitHub Actions
 * annotations. Files are looked up by display path to draw the frame.
 */
export function formatDiagnostics(diagnostics: readonly Diagnostic[], files: readonly SourceFile[], format: OutputFormat, color = false): string {
  if (format === 'json') return JSON.stringify({ errors: count(diagnostics, 'error'), warnings: count(diagnostics, 'warning'), diagnostics }, null, 2);
  if (format === 'github') return diagnostics.map(github).join('\n');
  const texts = new Map(files.map((file) => [file.displayPath, file.text]));
  const blocks = diagnostics.map((d) => {
    const head = `${d.file}:${d.line}:${d.column} ${d.severity} ${d.code}: ${d.message}`;
    const text = texts.get(d.file);
    const frame = text === undefined ? '' : '\n' + codeFrameColumns(text, { start: { line: d.line, column: d.column } }, { highlightCode: color, linesAbove: 1, linesBelow: 1 });
    const related = (d.related ?? []).map((r) => `\n  ${r.message}: ${r.file}:${r.line}:${r.column}`).join('');
    return head + related + frame;
  });
  return [...blocks, summary(diagnostics)].join('\n\n');
}

export function summary(diagnostics: readonly Diagnostic[]): string {
  const errors = count(diagnostics, 'error');
  const warnings = count(diagnostics, 'warning');
  if (errors === 0 && warnings === 0) return 'definitions are valid';
  return `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
}

function count(diagnostics: readonly Diagnostic[], severity: Diagnostic['severity']): number {
  return diagnostics.filter((d) => d.severity === severity).length;
}

/** `::error file=..,line=..,col=..,title=CODE::message` — GitHub's workflow-command syntax, escaped. */
function github(d: Diagnostic): string {
  const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const level = d.severity === 'error' ? 'error' : 'warning';
  return `::${level} file=${escapeProperty(d.file)},line=${d.line},col=${d.column},title=${escapeProperty(d.code)}::${escapeData(d.message)}`;
}
