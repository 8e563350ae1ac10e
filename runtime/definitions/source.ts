import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
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

/**
 * Parsed texts, so that loading the same definitions again in one process (tests, a watcher) does not
 * parse every file again. Only documents with no `${` or `$$` in any string are kept: `substituteEnvironment`
 * rewrites those scalars in place, and nothing else changes a parsed document.
 */
const parsedTexts = new Map<string, { readonly document: Document.Parsed; readonly lines: LineCounter }>();
const MAX_PARSED_TEXTS = 256;

function parseText(text: string): { readonly document: Document.Parsed; readonly lines: LineCounter } {
  const cached = parsedTexts.get(text);
  if (cached) return cached;
  const lines = new LineCounter();
  // uniqueKeys: false — duplicates are reported by `reportDuplicateKeys` at both places instead.
  // logLevel: 'error' — problems are diagnostics; the YAML library must not print warnings of its own.
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false, version: '1.2', logLevel: 'error' });
  let reusable = true;
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /\$\$|\$\{/.test(node.value)) {
        reusable = false;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (reusable) {
    parsedTexts.set(text, { document, lines });
    if (parsedTexts.size > MAX_PARSED_TEXTS) parsedTexts.delete(parsedTexts.keys().next().value!);
  }
  return { document, lines };
}

/** A source whose YAML document is parsed only when something needs to point into it. */
export function lazySource(absolutePath: string, displayPath: string, text: string): SourceFile {
  let parsed: ReturnType<typeof parseText> | undefined;
  const get = (): ReturnType<typeof parseText> => (parsed ??= parseText(text));
  return {
    absolutePath,
    displayPath,
    text,
    get document() {
      return get().document;
    },
    get lines() {
      return get().lines;
    },
  };
}

export function parseSource(absolutePath: string, displayPath: string, text: string, diagnostics: DiagnosticBag): SourceFile {
  const { document, lines } = parseText(text);
  const file: SourceFile = { displayPath, absolutePath, text, document, lines };
  // Only the first error: the parser's recovery turns one mistake (a dedented line, an unclosed quote)
  // into a cascade of errors on the lines after it, and the first one is the cause.
  for (const error of document.errors.slice(0, 1)) {
    const opening = unclosedOpening(document, error.message, error.pos[0]);
    if (opening) diagnostics.add('EDA_YAML_SYNTAX', `${firstLine(error.message)}: the ${opening.what} opened here is not closed${error.code === 'BAD_INDENT' ? ' (or a line inside it is not indented enough)' : ''}`, offsetLocation(file, opening.offset));
    else diagnostics.add('EDA_YAML_SYNTAX', firstLine(error.message), offsetLocation(file, error.pos[0], error.pos[1]));
  }
  if (document.errors.length === 0) reportDuplicateKeys(file, document.contents, diagnostics);
  return file;
}

/**
 * The parser notices an unclosed `{`, `[` or quote only where the collection or string should have
 * ended, often lines later (the next key, the end of the file). Point at the opening instead: the
 * innermost unclosed flow collection or quoted scalar that runs up to the error.
 */
function unclosedOpening(document: Document.Parsed, message: string, position: number): { offset: number; what: string } | undefined {
  const collection = /^Flow (map|sequence) .*end with a [}\]]/.exec(message);
  const quote = /^Missing closing (["'])quote/.exec(message);
  if (!collection && !quote) return undefined;
  let found: { offset: number; what: string } | undefined;
  visit(document, {
    Node(_key, node) {
      const range = node.range;
      if (!range || range[0] >= position || range[1] < position) return;
      if (found && found.offset > range[0]) return;
      if (collection && (isMap(node) || isSeq(node)) && node.flow && isMap(node) === (collection[1] === 'map')) found = { offset: range[0], what: collection[1] === 'map' ? '{' : '[' };
      if (quote && isScalar(node) && node.type === (quote[1] === '"' ? 'QUOTE_DOUBLE' : 'QUOTE_SINGLE')) found = { offset: range[0], what: `${quote[1]}` };
    },
  });
  return found;
}

/** Aliases may repeat a node this many times in all (YAML's "billion laughs" guard); real files stay far below. */
const MAX_ALIAS_EXPANSIONS = 10_000;

/**
 * The file's data, aliases expanded; undefined (with an error at the first alias) when the aliases expand
 * to more than MAX_ALIAS_EXPANSIONS nodes, which only a resource-exhaustion attack needs.
 */
export function fileData(file: SourceFile, diagnostics: DiagnosticBag): { data: unknown } | undefined {
  try {
    return { data: file.document.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) };
  } catch (error) {
    let alias: Node | undefined;
    visit(file.document, { Alias: (_key, node) => { alias = node; return visit.BREAK; } });
    diagnostics.add('EDA_YAML_SYNTAX', `${(error as Error).message}: the aliases (*name) of this file expand to more than ${MAX_ALIAS_EXPANSIONS} nodes`, nodeLocation(file, alias));
    return undefined;
  }
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

/**
 * The node at `path`, or the deepest existing ancestor when the path runs past the document. A path that
 * runs through an alias (`*name`) continues in the node of its anchor: a mistake inside a shared schema is
 * shown where it is written, once, not at every alias.
 */
export function findNode(root: unknown, path: Path, document?: Document): { node: Node | undefined; pair: Pair | undefined; depth: number } {
  let node = root as Node | undefined;
  let pair: Pair | undefined;
  let depth = 0;
  for (const segment of path) {
    if (isAlias(node) && document) node = node.resolve(document) ?? node;
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
  const { node, pair, depth } = findNode(file.document.contents, path, file.document);
  if (target === 'key' && pair && depth === path.length && isPair(pair)) return nodeLocation(file, pair.key as Node);
  if (!node && pair) return nodeLocation(file, pair.key as Node);
  return nodeLocation(file, node ?? (file.document.contents as Node | null));
}
