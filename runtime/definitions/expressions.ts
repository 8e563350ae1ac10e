import { isScalar } from 'yaml';
import { compileExpression, templateExpression } from '../core/expressions.js';
import type { DiagnosticBag } from './diagnostics.js';
import { findNode, locate, type Path, type SourceFile } from './source.js';

/** Keys whose values are templates: literals, except "{% expr %}" strings (DSL.md, Scalars). */
const TEMPLATE_KEYS = new Set(['data', 'context', 'assign', 'set', 'upsert', 'update', 'where', 'delete', 'init', 'reduce', 'initial', 'evolve']);
/** Keys whose string values are bare expressions. */
const SELECTOR_KEYS = new Set(['key', 'when', 'filter', 'streamId', 'groupBy']);
/** Subtrees that hold JSON Schemas and example data, never expressions. */
const OPAQUE_KEYS = new Set(['schema', 'examples', 'columns', 'description']);

/**
 * Compiles every JSONata expression of one file so that a syntax error is reported at its line before
 * anything runs. Walks the parsed data: selector keys hold bare expressions; below a template key only
 * "{% %}" strings are expressions; `correlate` maps event names to selectors.
 */
export function checkExpressions(file: SourceFile, data: unknown, diagnostics: DiagnosticBag): void {
  walk(data, [], false);

  function walk(value: unknown, path: PathSegmentList, inTemplate: boolean): void {
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, [...path, index], inTemplate));
      return;
    }
    if (value !== null && typeof value === 'object') {
      const parentKey = path[path.length - 1];
      for (const [key, child] of Object.entries(value)) {
        if (OPAQUE_KEYS.has(key) && !inTemplate) continue;
        const childPath = [...path, key];
        const isSelector = !inTemplate && (SELECTOR_KEYS.has(key) || parentKey === 'correlate') && typeof child === 'string';
        if (isSelector) compile(child, childPath, child);
        else walk(child, childPath, inTemplate || TEMPLATE_KEYS.has(key));
      }
      return;
    }
    if (inTemplate) {
      const expression = templateExpression(value);
      if (expression !== undefined) compile(expression, path, value as string);
    }
  }

  function compile(expression: string, path: Path, raw: string): void {
    try {
      compileExpression(expression);
    } catch (error) {
      const { message, position } = error as { message?: string; position?: number };
      const at = locate(file, path);
      const column = columnOf(file, path, raw, expression, position);
      diagnostics.add('EDA_EXPRESSION_SYNTAX', `JSONata: ${message ?? String(error)} in "${expression}"`, { ...at, column: column ?? at.column });
    }
  }
}

type PathSegmentList = readonly (string | number)[];

/** Column of the failing character when the expression sits on one line of the file; else undefined. */
function columnOf(file: SourceFile, path: Path, raw: string, expression: string, position: number | undefined): number | undefined {
  const { node } = findNode(file.document.contents, path, file.document);
  if (!isScalar(node) || position === undefined || !node.range) return undefined;
  const source = file.text.slice(node.range[0], node.range[1]);
  if (source.includes('\n')) return undefined;
  const start = source.indexOf(expression);
  if (start < 0 || raw === undefined) return undefined;
  const offset = node.range[0] + start + Math.max(0, position - 1);
  return file.lines.linePos(offset).col;
}

