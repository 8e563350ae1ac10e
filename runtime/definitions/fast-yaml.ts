import jsYaml from 'js-yaml';

/**
 * YAML 1.2's core schema as js-yaml types (the regular expressions of the spec, §10.3.2), so that
 * js-yaml reads scalars exactly as the `yaml` package does by default: `on`, `yes` and `1_000` stay
 * strings, `0o17` is 15.
 */
const core = jsYaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new jsYaml.Type('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (s: string) => /^(?:~|null|Null|NULL|)$/.test(s), construct: () => null }),
    new jsYaml.Type('tag:yaml.org,2002:bool', { kind: 'scalar', resolve: (s: string) => /^(?:true|True|TRUE|false|False|FALSE)$/.test(s), construct: (s: string) => /^t/i.test(s) }),
    new jsYaml.Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s: string) => /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s),
      construct: (s: string) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    }),
    new jsYaml.Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s: string) => /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/.test(s),
      construct: (s: string) => (/nan$/i.test(s) ? NaN : /inf$/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : parseFloat(s)),
    }),
  ],
});

/**
 * The data of a definitions file, read by js-yaml, which is about twice as fast as the `yaml` package
 * on a cold start (bench/validate.ts). Undefined when the file needs the full parser: any error, a
 * duplicate key, a tag, or an alias (js-yaml shares aliased nodes, so a walk over an alias bomb would
 * never end; the full parser limits expansion). Diagnostics always come from the full parser; positions come
 * from it lazily, only when something must be pointed at.
 */
export function fastParse(text: string): { data: unknown } | undefined {
  if (/(^|[\s:[{,-])![A-Za-z!<]/.test(text)) return undefined;
  if (/(^|[\s[{,:-])\*[^\s,\]}]/.test(text)) return undefined;
  try {
    return { data: jsYaml.load(text, { schema: core, json: false }) ?? null };
  } catch {
    return undefined;
  }
}
