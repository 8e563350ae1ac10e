import { asList, type Definitions, type Document } from '../definitions/index.js';
import { planMessaging } from '../messaging/topology.js';
import { createSagaMachine, type SagaAction, type SagaMachineConfig } from '../sagas/index.js';
import { flowText, mermaidId } from './mermaid.js';

type NodeKind = 'http' | 'command' | 'aggregate' | 'eventStore' | 'event' | 'topic' | 'queue' | 'handler' | 'saga' | 'projection' | 'query' | 'stream';

/** How each kind of node is drawn: its id prefix, the word its label starts with, its Mermaid shape and colour. */
const NODE_STYLE: Record<NodeKind, { prefix: string; label: string; open: string; close: string; fill: string }> = {
  http: { prefix: '', label: 'HTTP API', open: '([', close: '])', fill: '#eeeeee' },
  command: { prefix: 'command_', label: 'command', open: '[/', close: '/]', fill: '#fde2c8' },
  aggregate: { prefix: 'aggregate_', label: 'aggregate', open: '[', close: ']', fill: '#f9d5e5' },
  eventStore: { prefix: '', label: 'event store', open: '[(', close: ')]', fill: '#e0e0e0' },
  event: { prefix: 'event_', label: 'event', open: '>', close: ']', fill: '#d5e8f9' },
  topic: { prefix: 'topic_', label: 'topic', open: '{{', close: '}}', fill: '#c8f0d8' },
  queue: { prefix: 'queue_', label: 'queue', open: '[[', close: ']]', fill: '#fff3b0' },
  handler: { prefix: 'handler_', label: 'handler', open: '(', close: ')', fill: '#ffffff' },
  saga: { prefix: 'saga_', label: 'saga', open: '[[', close: ']]', fill: '#e6d5f9' },
  projection: { prefix: 'projection_', label: 'projection', open: '[(', close: ')]', fill: '#d5f9f3' },
  query: { prefix: 'query_', label: 'query', open: '(', close: ')', fill: '#d5f9f3' },
  stream: { prefix: 'stream_', label: 'stream', open: '[', close: ']', fill: '#f0f0c8' },
};

interface Node {
  readonly kind: NodeKind;
  readonly name: string;
}

/**
 * The definitions as a Mermaid `flowchart LR`, producers on the left: the HTTP API sends commands;
 * commands go to their queue or straight to their handler or aggregate; aggregates, handlers, sagas
 * and streams produce events; events travel on their topic; topics feed handlers, sagas, streams and
 * projections (event-store projections read the event store the aggregates append to); queries read
 * projections. Events nothing in the definitions produces come from outside, over the HTTP API.
 * Nodes and edges are sorted, so the same definitions always print the same text.
 */
export function topologyFlowchart(definitions: Definitions): string[] {
  const graph = new TopologyGraph();
  const http: Node = { kind: 'http', name: 'http' };
  const eventStore: Node = { kind: 'eventStore', name: 'eventStore' };
  const command = (name: string): Node => ({ kind: 'command', name });
  const event = (name: string): Node => ({ kind: 'event', name });
  const topicOf = (name: string): Node | undefined => {
    const topic = definitions.events.get(name)?.spec.topic;
    return topic === undefined ? undefined : { kind: 'topic', name: topic };
  };
  const consumes = (consumer: Node, events: Iterable<string>): void => {
    for (const name of events) {
      const topic = topicOf(name);
      if (topic) graph.edge(topic, consumer);
    }
  };

  for (const [name, spec] of definitions.commands) {
    graph.edge(http, command(name));
    if (spec.spec.queue !== undefined) graph.edge(command(name), { kind: 'queue', name: spec.spec.queue });
  }
  for (const [name, spec] of definitions.events) graph.edge(event(name), { kind: 'topic', name: spec.spec.topic });

  const messaging = planMessaging(definitions);
  for (const consumer of messaging.consumers) {
    graph.edge({ kind: consumer.destination.kind, name: consumer.destination.name }, { kind: 'handler', name: consumer.name });
  }
  for (const [commandName, handlers] of messaging.inProcess) for (const handler of handlers) graph.edge(command(commandName), { kind: 'handler', name: handler });
  for (const [name, handler] of definitions.handlers) {
    const node: Node = { kind: 'handler', name };
    for (const emitted of asList(handler.spec.emits)) graph.edge(node, event(emitted));
    for (const sent of asList(handler.spec.sends)) graph.edge(node, command(sent));
  }

  for (const [name, aggregate] of definitions.aggregates) {
    const node: Node = { kind: 'aggregate', name };
    graph.edge(node, eventStore);
    for (const [commandName, decision] of Object.entries(aggregate.spec.handle)) {
      if (!decision) continue;
      graph.edge(command(commandName), node);
      // A typed decider may append any event the aggregate evolves.
      const emitted = decision.handler !== undefined ? Object.keys(aggregate.spec.evolve ?? {}) : emittedEvents(decision.emit);
      for (const name of emitted) graph.edge(node, event(name));
    }
  }

  for (const [name, saga] of definitions.sagas) {
    const node: Node = { kind: 'saga', name };
    const config = createSagaMachine(name, saga.spec, definitions).config;
    consumes(node, [...asList(saga.spec.startedBy), ...handledEvents(config)]);
    for (const action of actionsOf(config)) {
      if (action.type !== 'effect') continue;
      if (action.params.kind === 'send') graph.edge(node, command(action.params.command));
      if (action.params.kind === 'emit') graph.edge(node, event(action.params.event));
    }
  }

  for (const [name, stream] of definitions.streams) {
    const node: Node = { kind: 'stream', name };
    consumes(node, streamInputs(stream.spec));
    graph.edge(node, event(stream.spec.emit.event));
  }

  for (const [name, projection] of definitions.projections) {
    const node: Node = { kind: 'projection', name };
    const from = projection.spec.from;
    if (from === undefined || from === 'events') graph.edge(eventStore, node);
    else graph.edge({ kind: definitions.queues.has(from) ? 'queue' : 'topic', name: from }, node);
  }
  for (const [name, query] of definitions.queries) graph.edge({ kind: 'projection', name: query.spec.projection }, { kind: 'query', name });

  for (const name of definitions.events.keys()) if (!graph.hasProducer(event(name))) graph.edge(http, event(name));
  return graph.render();
}

class TopologyGraph {
  private readonly nodes = new Map<string, Node>();
  private readonly edges = new Set<string>();
  private readonly targets = new Set<string>();

  edge(from: Node, to: Node): void {
    const fromId = this.add(from);
    const toId = this.add(to);
    this.edges.add(`${fromId} --> ${toId}`);
    this.targets.add(toId);
  }

  hasProducer(node: Node): boolean {
    return this.targets.has(nodeId(node));
  }

  render(): string[] {
    const byId = [...this.nodes.entries()].sort(([a], [b]) => compare(a, b));
    const lines = ['flowchart LR'];
    for (const [id, node] of byId) {
      const style = NODE_STYLE[node.kind];
      const label = node.kind === 'http' || node.kind === 'eventStore' ? style.label : `${style.label}: ${node.name}`;
      lines.push(`  ${id}${style.open}"${flowText(label)}"${style.close}`);
    }
    lines.push(...[...this.edges].sort(compare).map((edge) => `  ${edge}`));
    for (const kind of Object.keys(NODE_STYLE) as NodeKind[]) {
      const members = byId.filter(([, node]) => node.kind === kind).map(([id]) => id);
      if (members.length === 0) continue;
      lines.push(`  classDef ${kind} fill:${NODE_STYLE[kind].fill},stroke:#555`);
      lines.push(`  class ${members.join(',')} ${kind}`);
    }
    return lines;
  }

  private add(node: Node): string {
    const id = nodeId(node);
    this.nodes.set(id, node);
    return id;
  }
}

function nodeId(node: Node): string {
  return mermaidId(node.name, NODE_STYLE[node.kind].prefix);
}

/** Code-point order: the same everywhere, whatever the locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function emittedEvents(emit: unknown): string[] {
  return asList(emit as unknown[] | unknown).flatMap((item) => {
    if (typeof item === 'string') return [item];
    if (item !== null && typeof item === 'object' && typeof (item as { event?: unknown }).event === 'string') return [(item as { event: string }).event];
    return [];
  });
}

/** The message types a compiled saga reacts to (its own runtime events aside). */
function handledEvents(config: SagaMachineConfig): string[] {
  const events = new Set<string>();
  for (const state of Object.values(config.states)) for (const name of Object.keys(state.on ?? {})) if (!name.startsWith('edaflow.')) events.add(name);
  return [...events];
}

function actionsOf(config: SagaMachineConfig): SagaAction[] {
  const fromTransitions = (transitions: readonly { actions?: readonly SagaAction[] }[] | undefined): SagaAction[] => (transitions ?? []).flatMap((transition) => transition.actions ?? []);
  return [
    ...(config.entry ?? []),
    ...Object.values(config.states).flatMap((state) => [
      ...(state.entry ?? []),
      ...(state.exit ?? []),
      ...Object.values(state.on ?? {}).flatMap(fromTransitions),
      ...fromTransitions(state.always),
    ]),
  ];
}

function streamInputs(stream: Document.StreamDefinition): string[] {
  return [stream.join?.left.event, stream.join?.right.event, stream.aggregate?.from.event, stream.from?.event].filter((name): name is string => name !== undefined);
}
