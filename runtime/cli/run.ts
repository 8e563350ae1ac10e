export async function runCommand(_dir: string, _options: { handlers?: string; port: string }): Promise<number> {
  process.stderr.write('run: not built yet\n');
  return 2;
}
