import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Lines are written in chunks of this many, so that a million-entry snapshot never becomes one string. */
const LINES_PER_WRITE = 10_000;

/**
 * Replaces `path` so that it is only ever seen whole: the text (a string, or
 * lines each ended by a newline) goes to a temporary file beside it, is
 * synced, renamed over `path`, and the rename is made durable. A crash
 * leaves the previous file, never a torn one.
 */
export async function writeFileDurably(path: string, content: string | Iterable<string>): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(temp, 'wx');
  try {
    if (typeof content === 'string') await file.writeFile(content, 'utf8');
    else {
      let chunk: string[] = [];
      for (const line of content) {
        chunk.push(line);
        if (chunk.length === LINES_PER_WRITE) {
          await file.write(chunk.join('\n') + '\n');
          chunk = [];
        }
      }
      if (chunk.length > 0) await file.write(chunk.join('\n') + '\n');
    }
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** Appends `text` and syncs it before resolving (audit trails, change logs). */
export async function appendDurably(path: string, text: string): Promise<void> {
  const file = await open(path, 'a');
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The complete lines of a file (none when it is absent); a last line torn by a crash mid-append is dropped. */
export async function readCompleteLines(path: string): Promise<string[]> {
  const text = await readOptional(path);
  if (text === undefined) return [];
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a torn line
  return lines.filter((line) => line !== '');
}

/**
 * An audit trail's entries: every line that parses. A line torn by a crash
 * mid-append (and the entry appended onto it afterwards) is skipped; the
 * entries around it are intact, and a trail never stops the store loading.
 */
export async function readAuditTrail<T>(path: string): Promise<T[]> {
  const entries: T[] = [];
  for (const line of ((await readOptional(path)) ?? '').split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as T);
    } catch {
      // torn
    }
  }
  return entries;
}

/** Makes a rename durable; not every platform can open a directory, which only costs durability. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}
