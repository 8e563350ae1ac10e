/**
 * A process that opens an embedded database and keeps it open until killed (the lock test's other process).
 *
 *   node --import tsx test/store/embedded-holder.ts <directory>
 */
import { openDatabase } from '../../runtime/store/database.js';

const [path] = process.argv.slice(2);
if (!path) throw new Error('usage: embedded-holder <directory>');
await openDatabase({ type: 'embedded', path });
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
