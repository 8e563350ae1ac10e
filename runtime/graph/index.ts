export { sagaDiagram } from './saga-diagram.js';
export { topologyFlowchart } from './topology.js';
export { mermaidBlock, mermaidId } from './mermaid.js';
