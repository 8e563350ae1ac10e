/** A Mermaid node id for `name`: letters, digits and `_` only, so any name is safe as an id. */
export function mermaidId(name: string, prefix = ''): string {
  return `${prefix}${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

const entity = (char: string): string => `#${char.charCodeAt(0)};`;

/** A state-diagram transition label: `;` would end the statement and a second `:` breaks the parser (mermaid#7418). */
export function stateLabel(text: string): string {
  return text.replace(/[#;:]/g, entity);
}

/** Text inside a quoted flowchart label: quotes, markup and `#` as Mermaid entity codes. */
export function flowText(text: string): string {
  return text.replace(/[#"<>&]/g, entity);
}

/** A Markdown section holding one Mermaid diagram. */
export function mermaidBlock(title: string, lines: readonly string[]): string {
  return [`## ${title}`, '', '```mermaid', ...lines, '```', ''].join('\n');
}
