import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { DiagnosticBag, Location } from './diagnostics.js';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** One parsed definitions (or referenced schema) file, with what is needed to point at any node in it. */
export interface SourceFile {
  /** Path as shown to the user: relative to the definitions directory's parent when possible. */
  readonly displayPath: string;
  readonly absolutePath: string;
  readonly text: string;
  readonly document: Document.Parsed;
  readonly lines: LineCounter;
}

export function parseSource(absolutePath: string, displayPath: string, text: string, diagnostics: DiagnosticBag): SourceFile {
  const lines = new LineCounter();
  // uniqueKeys: false — duplicates are reported by `reportDuplicateKeys` at both places instead.
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false, version: '1.2' });
  const file: SourceFile = { displayPath, absolutePath, text, document, lines };
  for (const error of [...document.errors]) {
    diagnostics.add('EDA_YAML_SYNTAX', firstLine(error.message), offsetLocation(file, error.pos[0], error.pos[1]));
  }
  if (document.errors.length === 0) reportDuplicateKeys(file, document.contents, diagnostics);
  return file;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

export function offsetLocation(file: SourceFile, start: number, end = start): Location {
  const from = file.lines.linePos(Math.min(start, file.text.length));
  const to = file.lines.linePos(Math.min(end, file.text.length));
  return { file: file.displayPath, line: from.line, column: from.col, endLine: to.line, endColumn: to.col };
}

export function nodeLocation(file: SourceFile, node: Node | null | undefined): Location {
  const range = node?.range;
  if (!range) return { file: file.displayPath, line: 1, column: 1 };
  return offsetLocation(file, range[0], range[1]);
}

function reportDuplicateKeys(file: SourceFile, node: unknown, diagnostics: DiagnosticBag): void {
  if (isMap(node)) {
    const seen = new Map<string, Pair>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key !== undefined) {
        const first = seen.get(key);
        if (first) {
          const firstAt = nodeLocation(file, first.key as Node);
          diagnostics.add('EDA_DUPLICATE_KEY', `key "${key}" is repeated (first at line ${firstAt.line})`, nodeLocation(file, pair.key as Node), {
            related: [{ ...firstAt, message: `first "${key}" is here` }],
          });
          diagnostics.add('EDA_DUPLICATE_KEY', `key "${key}" is repeated (again at line ${nodeLocation(file, pair.key as Node).line})`, firstAt);
        } else {
          seen.set(key, pair);
        }
      }
      reportDuplicateKeys(file, pair.value, diagnostics);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) reportDuplicateKeys(file, item, diagnostics);
  }
}

/** The node at `path`, or the deepest existing ancestor when the path runs past the document. */
export function findNode(root: unknown, path: Path): { node: Node | undefined; pair: Pair | undefined; depth: number } {
  let node = root as Node | undefined;
  let pair: Pair | undefined;
  let depth = 0;
  for (const segment of path) {
    if (isMap(node)) {
      const found = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!found) break;
      pair = found;
      node = found.value as Node | undefined;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      pair = undefined;
      node = node.items[segment] as Node;
    } else {
      break;
    }
    depth += 1;
  }
  return { node, pair, depth };
}

/**
 * Where to point for `path`: the value node, or with `target: 'key'` the key that names it (for unknown
 * keys and duplicates). A path that does not exist points at its deepest existing ancestor.
 */
export function locate(file: SourceFile, path: Path, target: 'key' | 'value' = 'value'): Location {
  const { node, pair, depth } = findNode(file.document.contents, path);
  if (target === 'key' && pair && depth === path.length && isPair(pair)) return nodeLocation(file, pair.key as Node);
  if (!node && pair) return nodeLocation(file, pair.key as Node);
  return nodeLocation(file, node ?? (file.document.contents as Node | null));
}
