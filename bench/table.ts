/**
 * A plain-text table for the benchmarks' stdout: the first column left-aligned, the others right-aligned.
 * A cell matching `spills` (a failure message in a row of its own) does not widen its column.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], spills?: RegExp): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (spills?.test(row[column] ?? '') ? 0 : (row[column] ?? '').length))));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** The middle value (the upper one of an even count), as every benchmark reports it; NaN for none. */
export function median(values: readonly number[]): number {
  return values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]! : NaN;
}

/** The nearest-rank percentile `p` (0–100) of `values`; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
