import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';

/** Where definitions are read from: the disk, or memory (tests, the fuzz suite). */
export interface DefinitionsFileSystem {
  /** Absolute paths of every *.yaml / *.yml below `root`, sorted. Throws when `root` is not a readable directory. */
  list(root: string): string[];
  read(absolutePath: string): string;
}

const SKIPPED_DIRECTORIES = new Set(['node_modules', 'generated']);

export const diskFileSystem: DefinitionsFileSystem = {
  list(root) {
    if (!statSync(root).isDirectory()) throw new Error(`${root} is not a directory`);
    const found: string[] = [];
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.name.startsWith('.')) continue;
        const path = join(dir, entry.name);
        if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name)) visit(path);
        else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) found.push(path);
      }
    };
    visit(root);
    return found.sort();
  },
  read(path) {
    return readFileSync(path, 'utf8');
  },
};

/** A file system over a map of paths (relative to the root, or absolute) to contents. */
export function memoryFileSystem(files: Record<string, string>, root: string): DefinitionsFileSystem {
  const byPath = new Map(Object.entries(files).map(([path, text]) => [isAbsolute(path) ? path : resolve(root, path), text]));
  return {
    list(dir) {
      return [...byPath.keys()].filter((path) => /\.ya?ml$/.test(path) && !relative(dir, path).startsWith('..')).sort();
    },
    read(path) {
      const text = byPath.get(path);
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    },
  };
}

/** How a path is shown: relative to the working directory when below it. */
export function displayPath(absolutePath: string, cwd = process.cwd()): string {
  const shown = relative(cwd, absolutePath);
  return shown && !shown.startsWith('..') && !isAbsolute(shown) ? shown : absolutePath;
}
