import { formatDiagnostics, loadDefinitions } from '../definitions/index.js';
import { mermaidBlock, sagaDiagram, topologyFlowchart } from '../graph/index.js';
import { createSagaMachine } from '../sagas/index.js';

export interface GraphOptions {
  /** Only this saga's state diagram. */
  readonly saga?: string;
  /** Only the topology flowchart (with `--saga`: that saga and the topology). */
  readonly topology?: boolean;
}

/**
 * `edaflow graph`: Markdown with a Mermaid `stateDiagram-v2` per saga (sorted by name) and a
 * `flowchart LR` of the topology. Exit 0 printed, 1 invalid definitions or unknown saga, 2 unusable input.
 */
export async function graphCommand(dir: string, options: GraphOptions): Promise<number> {
  const result = await loadDefinitions(dir, { mode: 'validate' });
  if (result.unusable) {
    process.stderr.write(`edaflow: ${result.unusable}\n`);
    return 2;
  }
  const definitions = result.definitions;
  if (!definitions) {
    process.stderr.write(formatDiagnostics(result.diagnostics, result.files, 'pretty', process.stderr.isTTY === true) + '\n');
    return 1;
  }
  const names = [...definitions.sagas.keys()].sort();
  if (options.saga !== undefined && !definitions.sagas.has(options.saga)) {
    process.stderr.write(`edaflow graph: no saga named ${options.saga}${names.length ? ` (sagas: ${names.join(', ')})` : ''}\n`);
    return 1;
  }
  const sagas = options.saga !== undefined ? [options.saga] : options.topology ? [] : names;
  const sections = sagas.map((name) => {
    const saga = definitions.sagas.get(name)!;
    return mermaidBlock(`Saga ${name}`, sagaDiagram(createSagaMachine(name, saga.spec, definitions).config));
  });
  if (options.topology || options.saga === undefined) sections.push(mermaidBlock('Topology', topologyFlowchart(definitions)));
  process.stdout.write(sections.join('\n'));
  return 0;
}
