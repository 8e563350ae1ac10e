export async function codegenCommand(_dir: string, _options: { out?: string; check?: boolean }): Promise<number> {
  process.stderr.write('codegen: not built yet\n');
  return 2;
}
