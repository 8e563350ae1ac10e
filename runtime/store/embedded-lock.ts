import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EdaflowError } from '../errors/index.js';

const LOCK_FILE = 'edaflow.pid';

/**
 * Claims an embedded database directory for this process, as PostgreSQL's postmaster.pid does: PGlite
 * has no lock of its own, and two processes opening one directory each run a PostgreSQL on the same
 * files, so their writes overwrite each other. A lock left by a process that died (SIGKILL) is taken
 * over; one held by a live process is EDA_DATABASE_IN_USE. Returns the release. The directory exists
 * (openDatabase creates it).
 */
export function lockEmbeddedDirectory(path: string): () => void {
  const file = join(path, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n${hostname()}\n`);
      closeSync(fd);
      return () => release(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const holder = readHolder(file);
    if (holder && isAlive(holder)) {
      const who = holder.pid === process.pid ? 'this process already' : `process ${holder.pid} on ${holder.host}`;
      throw new EdaflowError(
        'EDA_DATABASE_IN_USE',
        `the embedded database ${path} is open in ${who} (edaflow run?): PGlite serves one process at a time. "edaflow status --url <its address>" asks a running runtime instead; otherwise stop that process first, or run against PostgreSQL (stores: { database: { type: postgres, url: ... } }). If no such process exists, delete ${file}.`,
        { details: { path, pid: holder.pid, host: holder.host } },
      );
    }
    // Left by a process that is gone: take it over.
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

interface Holder {
  readonly pid: number;
  readonly host: string;
}

function readHolder(file: string): Holder | undefined {
  try {
    const [pid, host] = readFileSync(file, 'utf8').split('\n');
    return Number.isInteger(Number(pid)) ? { pid: Number(pid), host: host ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

/** Another host's process cannot be checked from here: it counts as alive (the safe side). */
function isAlive(holder: Holder): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(file: string): void {
  if (readHolder(file)?.pid !== process.pid) return;
  try {
    unlinkSync(file);
  } catch {
    // Already gone: nothing to release.
  }
}
