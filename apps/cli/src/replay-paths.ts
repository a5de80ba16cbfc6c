import { constants, fstatSync, type Stats } from 'node:fs';
import { access, lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { describeFsError } from '@risk/infra/files/replacing-file';

/**
 * Where a replay reads and writes, checked before anything is written:
 * the input must be readable and not a folder, and no output may be the
 * input or the other output (the old command truncated its own input when
 * given `--input f --output f`).
 */
export interface ReplayPaths {
  readonly input: Readable;
  /** The resolved target of `--output`, or undefined for stdout. */
  readonly output: string | undefined;
  /** The resolved target of `--rejects`, or undefined for stdout; absent when not asked for. */
  readonly rejects?: string | undefined;
}

export type ResolvedPaths = { readonly ok: true; readonly paths: ReplayPaths } | { readonly ok: false; readonly message: string };

/** What a path names, enough to tell two names of one file apart from two files. */
interface FileIdentity {
  /** Absolute, with symbolic links resolved (of the folder, when the file does not exist yet). */
  readonly real: string;
  /** Device and inode of an existing file: catches hard links and case-insensitive names. */
  readonly stats: Stats | undefined;
}

export interface PathRequest {
  readonly input: string;
  readonly output: string;
  readonly rejects: string | undefined;
  readonly stdin: Readable;
  /** File descriptor behind `stdin`, to notice `--input - --output f < f`. */
  readonly stdinFd: number | undefined;
}

export async function resolveReplayPaths(request: PathRequest): Promise<ResolvedPaths> {
  const stdout = request.output === '-' ? 'output' : request.rejects === '-' ? 'rejects' : undefined;
  if (request.output === '-' && request.rejects === '-') {
    return { ok: false, message: '--output and --rejects cannot both be - (stdout): give one of them a file' };
  }

  let input: Readable;
  let inputIdentity: FileIdentity | undefined;
  if (request.input === '-') {
    input = request.stdin;
    const stats = request.stdinFd === undefined ? undefined : fstatOrUndefined(request.stdinFd);
    inputIdentity = stats?.isFile() === true ? { real: '(stdin)', stats } : undefined;
  } else {
    const opened = await openInput(request.input);
    if (!opened.ok) return opened;
    input = opened.handle.createReadStream({ highWaterMark: 1 << 20 });
    inputIdentity = { real: await realpath(request.input), stats: opened.stats };
  }

  const targets: { flag: string; path: string; identity: FileIdentity }[] = [];
  for (const [flag, path] of [
    ['--output', request.output],
    ['--rejects', request.rejects],
  ] as const) {
    if (path === undefined || path === '-') continue;
    const identified = await identifyOutput(flag, path);
    if (!identified.ok) return closeInput(input, identified);
    if (inputIdentity !== undefined && sameFile(identified.identity, inputIdentity)) {
      const what = request.input === '-' ? 'the file on standard input' : `the input ${request.input}`;
      return closeInput(input, { ok: false, message: `${flag} ${path} is ${what}: refusing to overwrite the input` });
    }
    const other = targets.find((t) => sameFile(t.identity, identified.identity));
    if (other !== undefined) {
      return closeInput(input, {
        ok: false,
        message: `${flag} ${path} is the same file as ${other.flag} ${other.path}: give each its own file`,
      });
    }
    targets.push({ flag, path, identity: identified.identity });
  }
  const targetOf = (flag: string): string | undefined => targets.find((t) => t.flag === flag)?.identity.real;
  return {
    ok: true,
    paths: {
      input,
      output: stdout === 'output' ? undefined : targetOf('--output'),
      ...(request.rejects === undefined ? {} : { rejects: stdout === 'rejects' ? undefined : targetOf('--rejects') }),
    },
  };
}

type OpenedInput =
  { readonly ok: true; readonly handle: FileHandle; readonly stats: Stats } | { readonly ok: false; readonly message: string };

async function openInput(path: string): Promise<OpenedInput> {
  const handle = await open(path, 'r').then(
    (opened) => opened,
    (error: Error) => error,
  );
  if (handle instanceof Error) return { ok: false, message: `cannot read input ${path}: ${describeFsError(handle)}` };
  const stats = await handle.stat();
  if (stats.isDirectory()) {
    await handle.close();
    return { ok: false, message: `cannot read input ${path}: it is a folder, not a file` };
  }
  return { ok: true, handle, stats };
}

type IdentifiedOutput = { readonly ok: true; readonly identity: FileIdentity } | { readonly ok: false; readonly message: string };

async function identifyOutput(flag: string, path: string): Promise<IdentifiedOutput> {
  const cannot = (reason: string): IdentifiedOutput => ({ ok: false, message: `cannot write ${flag} ${path}: ${reason}` });
  const stats = await stat(path).then(
    (found) => found,
    (error: NodeJS.ErrnoException) => error,
  );
  if (!(stats instanceof Error)) {
    if (stats.isDirectory()) return cannot('it is a folder; give a file name');
    const writable = await access(path, constants.W_OK).then(
      () => undefined,
      (error: Error) => error,
    );
    if (writable !== undefined) return cannot(describeFsError(writable));
    return { ok: true, identity: { real: await realpath(path), stats } };
  }
  if (stats.code !== 'ENOENT') return cannot(describeFsError(stats));
  // A link pointing nowhere: renaming a new file onto it would silently replace the link.
  const link = await lstat(path).then(
    (found) => found,
    () => undefined,
  );
  if (link?.isSymbolicLink() === true) return cannot('it is a symbolic link to a missing file');
  const folder = dirname(resolve(path));
  const folderStats = await stat(folder).then(
    (found) => found,
    (error: Error) => error,
  );
  if (folderStats instanceof Error) return cannot(`folder ${folder}: ${describeFsError(folderStats)}`);
  if (!folderStats.isDirectory()) return cannot(`${folder} is not a folder`);
  return { ok: true, identity: { real: join(await realpath(folder), basename(path)), stats: undefined } };
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  if (a.stats !== undefined && b.stats !== undefined) return a.stats.dev === b.stats.dev && a.stats.ino === b.stats.ino;
  return a.real === b.real;
}

function fstatOrUndefined(fd: number): Stats | undefined {
  try {
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}

function closeInput<T>(input: Readable, outcome: T): T {
  input.destroy();
  return outcome;
}
