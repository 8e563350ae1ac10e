/**
 * Mutations of a valid definitions set for the fuzz test (test/definitions/fuzz.test.ts). Each one is
 * built to break the definitions for certain — it touches a place the language constrains (a key of a
 * closed object, a required key, a name reference, a scalar of a fixed type, the YAML syntax...), never
 * free-form data such as a template's literal or a description's text.
 *
 * Places are found with the `yaml` Document API. Replacing a key or a scalar is a text edit at that node's
 * source range (the rest of the file stays byte for byte the same, and it is fast); deleting or repeating
 * a pair goes through the Document API and its printer; syntax breaks are text edits.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { definitionsFileSchema } from '../../runtime/definitions/index.js';

export type Path = readonly (string | number)[];

/** A seeded PRNG (mulberry32): the same seed gives the same variants. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const between = (random: Random, min: number, max: number): number => min + Math.floor(random() * (max - min + 1)); // inclusive

// ---------------------------------------------------------------------------------------------------------
// Where the language constrains what is written. Patterns are paths: `*` is any key, `#` any list index.

/** Mappings that are closed objects of the language (unknown keys are errors), with their required keys. */
const CLOSED: Record<string, readonly string[]> = {
  '': [],
  stores: [],
  'stores.database': ['type'],
  'stores.cache': ['type'],
  defaults: [],
  'defaults.retry': [],
  'defaults.idempotency': [],
  'brokers.*': ['type'],
  'topics.*': [],
  'queues.*': [],
  'queues.*.retry': [],
  'queues.*.deadLetter': [],
  'events.*': ['topic', 'versions'],
  'events.*.versions.*': ['schema'],
  'events.*.versions.*.upcast': [],
  'commands.*': ['schema'],
  'aggregates.*': ['streamId', 'initial', 'handle'],
  'aggregates.*.handle.*': [],
  'aggregates.*.handle.*.emit': ['event'],
  'handlers.*': ['on'],
  'handlers.*.retry': [],
  'handlers.*.idempotency': [],
  'sagas.*': ['startedBy'],
  'sagas.*.steps.#': ['name'],
  'sagas.*.steps.#.send': ['command'],
  'sagas.*.steps.#.emit': ['event'],
  'sagas.*.steps.#.await': ['success'],
  'sagas.*.steps.#.retry': [],
  'sagas.*.steps.#.compensate': [],
  'sagas.*.steps.#.compensate.send': ['command'],
  'sagas.*.machine': ['initial', 'states'],
  'sagas.*.machine.states.*': [],
  'sagas.*.machine.states.*.on.*': [],
  'sagas.*.machine.states.*.after.*': [],
  'sagas.*.machine.states.*.always': [],
  'sagas.*.machine.states.*.entry.#': [],
  'sagas.*.machine.states.*.entry.#.send': ['command'],
  'sagas.*.machine.states.*.entry.#.emit': ['event'],
  'sagas.*.machine.states.*.exit.#': [],
  'sagas.*.machine.states.*.exit.#.send': ['command'],
  'projections.*': ['table', 'key', 'columns', 'on'],
  'projections.*.on.*': [],
  'queries.*': ['projection'],
  'streams.*': ['emit'],
  'streams.*.join': ['left', 'right', 'within'],
  'streams.*.join.left': ['event', 'key'],
  'streams.*.join.right': ['event', 'key'],
  'streams.*.aggregate': ['from', 'groupBy', 'window', 'init', 'reduce'],
  'streams.*.aggregate.from': ['event'],
  'streams.*.aggregate.window': [],
  'streams.*.from': ['event'],
  'streams.*.emit': ['event'],
};

/** Keys of closed objects whose values are templates or JSON Schemas: any value is accepted there. */
const FREE_FORM_KEYS = new Set(['data', 'schema', 'examples', 'context', 'initial', 'evolve', 'assign', 'set', 'upsert', 'update', 'where', 'delete', 'init', 'reduce']);
/** Durations accept a whole number of milliseconds too. */
const DURATION_KEYS = new Set(['timeout', 'retention', 'messageTtl', 'delay', 'maxDelay', 'ttl', 'within', 'grace', 'tumbling', 'hopping', 'advance', 'session', 'pollInterval']);
/** Keys whose string values are bare JSONata expressions (DSL.md, Scalars). */
const SELECTOR_KEYS = new Set(['key', 'when', 'filter', 'streamId', 'groupBy']);
/** Keys below which "{% %}" strings are JSONata templates. */
const TEMPLATE_KEYS = new Set(['data', 'context', 'assign', 'set', 'upsert', 'update', 'where', 'delete', 'init', 'reduce', 'initial', 'evolve']);

type RefKind = 'topic' | 'queue' | 'destination' | 'event' | 'command' | 'message' | 'projection' | 'state' | 'column' | 'broker';

/** Places holding a name that must be defined: the value there, or (`key`) the keys of the mapping there. */
const REFERENCES: readonly { pattern: string; kind: RefKind; key?: true; scope?: 'saga' | 'projection' | 'query' }[] = [
  { pattern: 'defaults.broker', kind: 'broker' },
  { pattern: 'topics.*.broker', kind: 'broker' },
  { pattern: 'queues.*.broker', kind: 'broker' },
  { pattern: 'events.*.topic', kind: 'topic' },
  { pattern: 'commands.*.queue', kind: 'queue' },
  { pattern: 'handlers.*.on', kind: 'message' },
  { pattern: 'handlers.*.on.#', kind: 'message' },
  { pattern: 'handlers.*.from', kind: 'destination' },
  { pattern: 'handlers.*.emits.#', kind: 'event' },
  { pattern: 'handlers.*.sends.#', kind: 'command' },
  { pattern: 'aggregates.*.evolve.*', kind: 'event', key: true },
  { pattern: 'aggregates.*.handle.*', kind: 'command', key: true },
  { pattern: 'aggregates.*.handle.*.emit', kind: 'event' },
  { pattern: 'aggregates.*.handle.*.emit.event', kind: 'event' },
  { pattern: 'aggregates.*.handle.*.emit.#', kind: 'event' },
  { pattern: 'aggregates.*.handle.*.emit.#.event', kind: 'event' },
  { pattern: 'sagas.*.startedBy', kind: 'event' },
  { pattern: 'sagas.*.startedBy.#', kind: 'event' },
  { pattern: 'sagas.*.correlate.*', kind: 'event', key: true },
  { pattern: 'sagas.*.steps.#.send.command', kind: 'command' },
  { pattern: 'sagas.*.steps.#.compensate.send.command', kind: 'command' },
  { pattern: 'sagas.*.steps.#.emit.event', kind: 'event' },
  { pattern: 'sagas.*.steps.#.await.success', kind: 'event' },
  { pattern: 'sagas.*.steps.#.await.success.#', kind: 'event' },
  { pattern: 'sagas.*.steps.#.await.failure', kind: 'event' },
  { pattern: 'sagas.*.steps.#.await.failure.#', kind: 'event' },
  { pattern: 'sagas.*.machine.initial', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.on.*', kind: 'event', key: true },
  { pattern: 'sagas.*.machine.states.*.on.*', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.on.*.target', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.after.*', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.after.*.target', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.always', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.always.target', kind: 'state', scope: 'saga' },
  { pattern: 'sagas.*.machine.states.*.entry.#.send.command', kind: 'command' },
  { pattern: 'sagas.*.machine.states.*.exit.#.send.command', kind: 'command' },
  { pattern: 'sagas.*.machine.states.*.entry.#.emit.event', kind: 'event' },
  { pattern: 'projections.*.from', kind: 'topic' },
  { pattern: 'projections.*.key.#', kind: 'column', scope: 'projection' },
  { pattern: 'projections.*.on.*', kind: 'event', key: true },
  { pattern: 'projections.*.on.*.upsert.*', kind: 'column', key: true, scope: 'projection' },
  { pattern: 'projections.*.on.*.update.*', kind: 'column', key: true, scope: 'projection' },
  { pattern: 'projections.*.on.*.where.*', kind: 'column', key: true, scope: 'projection' },
  { pattern: 'projections.*.on.*.delete.*', kind: 'column', key: true, scope: 'projection' },
  { pattern: 'queries.*.projection', kind: 'projection' },
  { pattern: 'queries.*.where.*', kind: 'column', key: true, scope: 'query' },
  { pattern: 'queries.*.orderBy', kind: 'column', scope: 'query' },
  { pattern: 'streams.*.join.left.event', kind: 'event' },
  { pattern: 'streams.*.join.right.event', kind: 'event' },
  { pattern: 'streams.*.aggregate.from.event', kind: 'event' },
  { pattern: 'streams.*.from.event', kind: 'event' },
  { pattern: 'streams.*.emit.event', kind: 'event' },
];

/** Where each kind of name is defined (saga states and columns inside their saga or projection). */
const DEFINITIONS: Record<RefKind, readonly string[]> = {
  topic: ['topics.*'],
  queue: ['queues.*'],
  destination: ['topics.*', 'queues.*'],
  event: ['events.*'],
  command: ['commands.*'],
  message: ['events.*', 'commands.*'],
  projection: ['projections.*'],
  state: ['sagas.*.machine.states.*'],
  column: ['projections.*.columns.*'],
  broker: ['brokers.*'],
};

function matches(pattern: string, path: Path): boolean {
  const parts = pattern === '' ? [] : pattern.split('.');
  return parts.length === path.length && parts.every((part, i) => (part === '*' ? typeof path[i] === 'string' : part === '#' ? typeof path[i] === 'number' : part === path[i]));
}
const matchesAny = (patterns: Iterable<string>, path: Path): boolean => [...patterns].some((pattern) => matches(pattern, path));

// ---------------------------------------------------------------------------------------------------------
// The set being mutated.

export interface SourceSet {
  /** Paths relative to the definitions directory → text. */
  readonly files: Readonly<Record<string, string>>;
}

interface Parsed {
  readonly name: string;
  readonly text: string;
  readonly json: boolean;
  readonly document: Document.Parsed;
}

/** One place in a file: a pair of a mapping (with the path of its value) or a list item. */
interface Site {
  readonly file: Parsed;
  readonly path: Path;
  readonly pair?: Pair;
  readonly node: unknown;
  readonly parent: YAMLMap | YAMLSeq;
  readonly index: number;
}

export interface Variant {
  readonly kind: string;
  readonly file: string;
  readonly detail: string;
  readonly files: Record<string, string>;
}

export interface Mutator {
  readonly kinds: readonly string[];
  /** One variant with one mutation, or undefined when `kind` has no place to apply here. */
  mutate(kind: string, random: Random): Variant | undefined;
}

/** The language's keywords: no misspelling may turn into one of them. */
function keywords(): Set<string> {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key === 'properties' && child !== null && typeof child === 'object') for (const name of Object.keys(child)) found.add(name);
        walk(child);
      }
    }
  };
  walk(definitionsFileSchema());
  return found;
}

export function createMutator(source: SourceSet): Mutator {
  const parsed: Parsed[] = Object.entries(source.files)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, text]) => ({ name, text, json: name.endsWith('.json'), document: parseDocument(text, { uniqueKeys: false, version: '1.2' }) }));
  const yamlFiles = parsed.filter((file) => !file.json);
  const sites = parsed.flatMap((file) => collectSites(file));
  const yamlSites = sites.filter((site) => !site.file.json);
  const languageKeywords = keywords();
  const referenced = referencedNames(yamlSites);

  const variant = (kind: string, file: Parsed, detail: string, text: string): Variant => ({ kind, file: file.name, detail, files: { ...source.files, [file.name]: text } });

  /** Applies `change` to a copy of the file's document (found again by path) and prints it. */
  const structural = (kind: string, site: Site, detail: string, change: (document: Document.Parsed, copy: Site) => void): Variant | undefined => {
    const document = site.file.document.clone() as Document.Parsed;
    const copy = siteAt(document, site.file, site.path);
    if (!copy) return undefined;
    change(document, copy);
    let text: string;
    try {
      text = document.toString({ lineWidth: 0 });
    } catch {
      return undefined; // e.g. an alias left without its anchor: the printer refuses; try another place
    }
    return variant(kind, site.file, `${detail} at ${site.path.join('.') || '(root)'}`, text);
  };

  /** Replaces a node's source text; the rest of the file stays byte for byte (and line for line) the same. */
  const replaceNode = (kind: string, site: Site, node: Node, replacement: string, detail: string): Variant => {
    const [start, end] = node.range!;
    const text = site.file.text;
    return variant(kind, site.file, `${detail} at ${site.path.join('.')} (line ${lineOf(text, start)})`, text.slice(0, start) + replacement + text.slice(end));
  };
  /** How a key or string is written back: plain when that is unambiguous, else as a JSON (= YAML double-quoted) string. */
  const written = (original: Node, value: string): string => {
    const quoted = isScalar(original) && (original.type === 'QUOTE_DOUBLE' || original.type === 'QUOTE_SINGLE');
    return quoted || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value) ? JSON.stringify(value) : value;
  };

  const closedPairs = yamlSites.filter((site) => site.pair && matchesAny(Object.keys(CLOSED), site.path.slice(0, -1)));
  const keyLines = blockKeyLines(yamlSites);
  /** Where each kind of mutation applies, computed once. */
  const memo = new Map<string, unknown>();
  const once = <T>(name: string, compute: () => T): T => {
    if (!memo.has(name)) memo.set(name, compute());
    return memo.get(name) as T;
  };
  const kinds: Record<string, (random: Random) => Variant | undefined> = {
    'misspell-key': (random) => {
      const site = pick(random, closedPairs);
      const key = String(site.path[site.path.length - 1]);
      const misspelt = misspell(key, random, languageKeywords);
      return replaceNode('misspell-key', site, site.pair!.key as Node, written(site.pair!.key as Node, misspelt), `renamed key "${key}" to "${misspelt}"`);
    },
    'delete-required-key': (random) => {
      const candidates = once('delete-required-key', () => closedPairs.filter((site) => CLOSED[patternOf(site.path.slice(0, -1))!]!.includes(String(site.path[site.path.length - 1]))));
      if (!candidates.length) return undefined;
      const site = pick(random, candidates);
      return structural('delete-required-key', site, 'deleted required key', (_doc, copy) => {
        (copy.parent as YAMLMap).items.splice(copy.index, 1);
      });
    },
    'scalar-to-collection': (random) => {
      const candidates = once('scalar-to-collection', () => closedPairs.filter((site) => isScalar(site.node) && !FREE_FORM_KEYS.has(String(site.path[site.path.length - 1]))));
      const site = pick(random, candidates);
      const asList = random() < 0.5;
      return replaceNode('scalar-to-collection', site, site.node as Node, asList ? '[1, 2]' : '{ unexpected: 1 }', `replaced scalar by a ${asList ? 'list' : 'mapping'}`);
    },
    'wrong-scalar-type': (random) => {
      const candidates = once('wrong-scalar-type', () => closedPairs.filter((site) => {
        if (!isScalar(site.node)) return false;
        const key = String(site.path[site.path.length - 1]);
        const value = site.node.value;
        if (FREE_FORM_KEYS.has(key)) return false;
        if (typeof value === 'number' || typeof value === 'boolean') return true;
        return typeof value === 'string' && !DURATION_KEYS.has(key); // a duration may be a number
      }));
      const site = pick(random, candidates);
      const value = (site.node as Scalar).value;
      const replacement = typeof value === 'string' ? 42 : 'three';
      return replaceNode('wrong-scalar-type', site, site.node as Node, String(replacement), `replaced ${JSON.stringify(value)} by ${JSON.stringify(replacement)}`);
    },
    'unknown-reference': (random) => {
      const candidates = once('unknown-reference', () => yamlSites.flatMap((site) => REFERENCES.filter((ref) => matches(ref.pattern, site.path) && (ref.key ? site.pair : isScalar(site.node) && typeof site.node.value === 'string')).map((ref) => ({ site, ref }))));
      const { site, ref } = pick(random, candidates);
      if (ref.key) {
        const name = String(site.path[site.path.length - 1]);
        return replaceNode('unknown-reference', site, site.pair!.key as Node, written(site.pair!.key as Node, `${name}_missing`), `renamed ${ref.kind} "${name}" (a key) to "${name}_missing"`);
      }
      const name = String((site.node as Scalar).value);
      const unknown = ref.pattern.endsWith('orderBy') ? name.replace(/^(\S+)/, '$1_missing') : `${name}_missing`;
      return replaceNode('unknown-reference', site, site.node as Node, written(site.node as Node, unknown), `replaced ${ref.kind} "${name}" by "${unknown}"`);
    },
    'delete-referenced-definition': (random) => {
      const candidates = once('delete-referenced-definition', () => yamlSites.filter((site) => site.pair && referencedDefinition(site, referenced)));
      if (!candidates.length) return undefined;
      const site = pick(random, candidates);
      return structural('delete-referenced-definition', site, 'deleted a definition that is referenced', (_doc, copy) => {
        (copy.parent as YAMLMap).items.splice(copy.index, 1);
      });
    },
    'version-gap': (random) => {
      const candidates = once('version-gap', () => yamlSites.filter((site) => matches('events.*.versions', site.path) && isMap(site.node) && site.node.items.length > 0));
      const site = pick(random, candidates);
      const numbers = (site.node as YAMLMap).items.map((pair) => Number(isScalar(pair.key) ? pair.key.value : NaN));
      const last = Math.max(...numbers);
      const pair = (site.node as YAMLMap).items.find((item) => isScalar(item.key) && Number(item.key.value) === last)!;
      return replaceNode('version-gap', site, pair.key as Node, String(last + 1), `renumbered version ${last} to ${last + 1}`);
    },
    'corrupt-expression': (random) => {
      const candidates = once('corrupt-expression', () => yamlSites.filter((site) => {
        if (!isScalar(site.node) || typeof site.node.value !== 'string') return false;
        const key = site.path[site.path.length - 1];
        const parentKey = site.path[site.path.length - 2];
        const isSelector = site.pair !== undefined && (SELECTOR_KEYS.has(String(key)) || parentKey === 'correlate') && matchesAny(Object.keys(CLOSED).concat('sagas.*.correlate'), site.path.slice(0, -1));
        const isTemplate = /^\{%[\s\S]*%\}$/.test(site.node.value.trim()) && site.path.some((segment) => TEMPLATE_KEYS.has(String(segment))) && !site.path.some((segment) => segment === 'schema' || segment === 'examples');
        return isSelector || isTemplate;
      }));
      const site = pick(random, candidates);
      const before = (site.node as Scalar).value as string;
      // An opening parenthesis that is never closed: no valid JSONata expression stays valid with it.
      const after = /^\{%/.test(before.trim()) ? before.trim().replace(/^\{%\s*/, '{% (') : `(${before}`;
      return replaceNode('corrupt-expression', site, site.node as Node, JSON.stringify(after), `made ${JSON.stringify(before)} ${JSON.stringify(after)}`);
    },
    'duplicate-key': (random) => {
      const candidates = once('duplicate-key', () => sites.filter((site) => site.pair && isScalar(site.pair.key)));
      const site = pick(random, candidates);
      return structural('duplicate-key', site, 'repeated the key', (_doc, copy) => {
        (copy.parent as YAMLMap).items.splice(copy.index + 1, 0, copy.pair!.clone());
      });
    },
    'invalid-schema-type': (random) => {
      const candidates = once('invalid-schema-type', () => sites.filter((site) => {
        if (!site.pair || site.path[site.path.length - 1] !== 'type' || !isScalar(site.node)) return false;
        if (!['object', 'string', 'number', 'integer', 'array', 'boolean', 'null'].includes(String(site.node.value))) return false;
        if (site.path.some((segment) => segment === 'examples' || segment === 'enum' || segment === 'const' || segment === 'default')) return false;
        return site.file.json || site.path.includes('schema');
      }));
      const site = pick(random, candidates);
      const before = String((site.node as Scalar).value);
      return replaceNode('invalid-schema-type', site, site.node as Node, JSON.stringify(`${before}ish`), `changed the JSON Schema type "${before}" to "${before}ish"`);
    },
    'unclosed-bracket': (random) => {
      const candidates = once('unclosed-bracket', () => sites.flatMap((site) => ((isMap(site.node) || isSeq(site.node)) && site.node.flow && site.node.range ? [{ site, end: site.node.range[1] - 1 }] : [])).filter(({ site, end }) => '}]'.includes(site.file.text[end]!)));
      const { site, end } = pick(random, candidates);
      const text = site.file.text;
      return variant('unclosed-bracket', site.file, `deleted the "${text[end]}" closing ${site.path.join('.')} (line ${lineOf(text, end)})`, text.slice(0, end) + text.slice(end + 1));
    },
    'unclosed-quote': (random) => {
      // Only the last quoted string of a file: with no quote after it, its string runs to the end of the file.
      const candidates = once('unclosed-quote', () => parsed.flatMap((file) => {
        const last = Math.max(file.text.lastIndexOf('"'), file.text.lastIndexOf("'"));
        const site = sites.find((s) => s.file === file && isScalar(s.node) && (s.node.type === 'QUOTE_DOUBLE' || s.node.type === 'QUOTE_SINGLE') && s.node.range && s.node.range[1] - 1 === last);
        return site ? [{ file, last }] : [];
      }));
      if (!candidates.length) return undefined;
      const { file, last } = pick(random, candidates);
      return variant('unclosed-quote', file, `deleted the closing quote at line ${lineOf(file.text, last)}`, file.text.slice(0, last) + file.text.slice(last + 1));
    },
    'bad-indentation': (random) => {
      const candidates = once('bad-indentation', () => keyLines.filter((line) => line.indent >= 2 && line.index > 0));
      const line = pick(random, candidates);
      const text = line.site.file.text;
      return variant('bad-indentation', line.site.file, `dedented line ${lineOf(text, line.start)} by one space`, text.slice(0, line.start) + text.slice(line.start + 1));
    },
    'tab-indentation': (random) => {
      const candidates = once('tab-indentation', () => keyLines.filter((line) => line.indent >= 1));
      const line = pick(random, candidates);
      const text = line.site.file.text;
      return variant('tab-indentation', line.site.file, `indented line ${lineOf(text, line.start)} with a tab`, text.slice(0, line.start) + '\t' + text.slice(line.start + 1));
    },
    truncate: (random) => {
      // Cut inside a key that follows a sibling (what is left is a key with no value), or inside a flow
      // collection (it is left unclosed); never inside a value that could stay valid shorter.
      const keys = once('truncate-keys', () => keyLines.filter((line) => line.index > 0 && line.keyLength >= 2));
      const flows = once('truncate-flows', () => sites.filter((site) => (isMap(site.node) || isSeq(site.node)) && site.node.flow && site.node.range));
      let file: Parsed;
      let at: number;
      if (random() < 0.5 && keys.length) {
        const line = pick(random, keys);
        [file, at] = [line.site.file, line.keyStart + between(random, 1, line.keyLength - 1)];
      } else {
        const site = pick(random, flows);
        const [start, end] = (site.node as Node).range!;
        [file, at] = [site.file, between(random, start + 1, end - 1)];
      }
      return variant('truncate', file, `cut the file at line ${lineOf(file.text, at)}, column ${at - file.text.lastIndexOf('\n', at - 1)}`, file.text.slice(0, at));
    },
  };
  if (!yamlFiles.length) throw new Error('no YAML files to mutate');
  return {
    kinds: Object.keys(kinds),
    mutate(kind, random) {
      return kinds[kind]!(random);
    },
  };
}

/** Each file parsed and printed back as the structural mutations do, with nothing changed. */
export function reprinted(files: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, text]) => [name, parseDocument(text, { uniqueKeys: false, version: '1.2' }).clone().toString({ lineWidth: 0 })]));
}

function patternOf(path: Path): string | undefined {
  return Object.keys(CLOSED).find((pattern) => matches(pattern, path));
}

function collectSites(file: Parsed): Site[] {
  const sites: Site[] = [];
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      node.items.forEach((pair, index) => {
        if (!isScalar(pair.key)) return;
        const childPath = [...path, String(pair.key.value)];
        sites.push({ file, path: childPath, pair, node: pair.value, parent: node, index });
        walk(pair.value, childPath);
      });
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        const childPath = [...path, index];
        sites.push({ file, path: childPath, node: item, parent: node, index });
        walk(item, childPath);
      });
    }
  };
  walk(file.document.contents, []);
  return sites;
}

/** The same place in a copy of the document. */
function siteAt(document: Document.Parsed, file: Parsed, path: Path): Site | undefined {
  let node: unknown = document.contents;
  let found: Site | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const index = node.items.findIndex((pair) => isScalar(pair.key) && String(pair.key.value) === String(segment));
      if (index < 0) return undefined;
      const pair = node.items[index]!;
      found = { file, path, pair, node: pair.value, parent: node, index };
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      found = { file, path, node: node.items[segment], parent: node, index: segment };
      node = node.items[segment];
    } else {
      return undefined;
    }
  }
  return found;
}

/** Names referenced somewhere, as `kind:scope:name` (scope: the saga or projection for states and columns). */
function referencedNames(sites: readonly Site[]): Set<string> {
  const names = new Set<string>();
  const queryProjection = new Map<string, string>();
  for (const site of sites) {
    if (matches('queries.*.projection', site.path) && isScalar(site.node)) queryProjection.set(String(site.path[1]), String(site.node.value));
  }
  for (const site of sites) {
    for (const ref of REFERENCES) {
      if (!matches(ref.pattern, site.path)) continue;
      const raw = ref.key ? String(site.path[site.path.length - 1]) : isScalar(site.node) && typeof site.node.value === 'string' ? site.node.value : undefined;
      if (raw === undefined) continue;
      const name = ref.pattern.endsWith('orderBy') ? raw.trim().split(/\s+/)[0]! : raw;
      const scope = ref.scope === 'query' ? queryProjection.get(String(site.path[1])) ?? '' : ref.scope ? String(site.path[1]) : '';
      const kinds: RefKind[] = ref.kind === 'destination' ? ['topic', 'queue'] : ref.kind === 'message' ? ['event', 'command'] : [ref.kind];
      for (const kind of kinds) names.add(`${kind}:${scope}:${name}`);
    }
  }
  return names;
}

function referencedDefinition(site: Site, referenced: ReadonlySet<string>): boolean {
  const name = String(site.path[site.path.length - 1]);
  for (const kind of ['topic', 'queue', 'event', 'command', 'projection', 'state', 'column', 'broker'] as const) {
    if (!matchesAny(DEFINITIONS[kind], site.path)) continue;
    const scope = kind === 'state' || kind === 'column' ? String(site.path[1]) : '';
    if (referenced.has(`${kind}:${scope}:${name}`)) return true;
  }
  return false;
}

/** Lines that start with the key of a pair of a block mapping (not inside a flow collection). */
function blockKeyLines(sites: readonly Site[]): { site: Site; start: number; indent: number; index: number; keyStart: number; keyLength: number }[] {
  const lines: { site: Site; start: number; indent: number; index: number; keyStart: number; keyLength: number }[] = [];
  for (const site of sites) {
    if (!site.pair || !isPair(site.pair) || !isMap(site.parent) || site.parent.flow) continue;
    const key = site.pair.key as Scalar;
    if (!key.range || isAlias(key)) continue;
    const text = site.file.text;
    const keyStart = key.range[0];
    const start = text.lastIndexOf('\n', keyStart - 1) + 1;
    if (!/^ *$/.test(text.slice(start, keyStart))) continue; // the key is not first on its line (e.g. after "- ")
    lines.push({ site, start, indent: keyStart - start, index: site.index, keyStart, keyLength: key.range[1] - keyStart });
  }
  return lines;
}

function misspell(word: string, random: Random, avoid: ReadonlySet<string>): string {
  const typos = [
    (w: string) => (w.length > 3 ? ((i) => w.slice(0, i) + w.slice(i + 1))(between(random, 1, w.length - 2)) : w + w[w.length - 1]), // drop a letter
    (w: string) => (w.length > 2 ? ((i) => w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2))(between(random, 0, w.length - 2)) : w + 'x'), // swap two
    (w: string) => ((i) => w.slice(0, i + 1) + w[i] + w.slice(i + 1))(between(random, 0, w.length - 1)), // double one
  ];
  let misspelt = pick(random, typos)(word);
  while (misspelt === word || avoid.has(misspelt)) misspelt += 'x';
  return misspelt;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}
