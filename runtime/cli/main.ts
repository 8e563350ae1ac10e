import { Command, Option } from 'commander';
import { VERSION } from './version.js';

// Each command's module is imported only when that command runs: `validate` must not pay for loading
// the code generator (json-schema-to-typescript) or the HTTP server, nor `--version` for any of them.

/** The `edaflow` command line. Each subcommand lives in its own file and returns an exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('edaflow')
    .description('A declarative runtime for event-driven systems.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('validate')
    .description('Check a definitions directory; exit 0 valid, 1 invalid, 2 unusable input.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .addOption(new Option('--format <format>', 'output format').choices(['pretty', 'json', 'github']).default('pretty'))
    .action(async (dir: string, options: { format: 'pretty' | 'json' | 'github' }) => {
      exitCode = await (await import('./validate.js')).validateCommand(dir, options);
    });

  program
    .command('codegen')
    .description('Generate TypeScript types, handler signatures, a typed client and validators.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--out <dir>', 'output directory (default: <dir>/generated)')
    .option('--check', 'exit 1 when the generated files on disk are stale')
    .action(async (dir: string, options: { out?: string; check?: boolean }) => {
      exitCode = await (await import('./codegen.js')).codegenCommand(dir, options);
    });

  program
    .command('run')
    .description('Run everything the definitions declare.')
    .argument('[dir]', 'definitions directory', 'definitions')
    .option('--handlers <module>', 'module exporting the typed handlers (.ts or .js)')
    .option('--port <n>', 'HTTP port', '3000')
    .action(async (dir: string, options: { handlers?: string; port: string }) => {
      exitCode = await (await import('./run.js')).runCommand(dir, options);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    const code = (error as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    throw error;
  }
  return exitCode;
}
