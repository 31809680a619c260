// The symbolizer's parsing thread: reads mapped files' function tables and
// the kernel's symbols off the main thread, so a profiler keeps draining its
// rings (and answers a signal) while a big binary or kallsyms is parsed. It
// opens a file itself (the ways the symbolizer gives, first that works) and
// says what it opened, so the symbolizer keeps the table only if it is the
// file it meant.
import { parentPort } from 'node:worker_threads';
import { ElfFile, FdSource, type SymbolTableParts } from '../elf.js';
import { KernelSymbols, type KernelSymbolsParts } from '../kallsyms.js';
import { readFunctionTable } from './table.js';

export type TableRequest =
  | { id: number; kind: 'file'; openers: string[] }
  | { id: number; kind: 'kernel'; path: string };

export type TableReply =
  | { id: number; ok: true; kind: 'file'; buildId: string | undefined; mtimeMs: number; size: number; parts: SymbolTableParts }
  | { id: number; ok: true; kind: 'kernel'; parts: KernelSymbolsParts }
  | { id: number; ok: false; error: string };

function readFile(id: number, openers: readonly string[]): TableReply {
  let lastError = 'no way to open it';
  for (const p of openers) {
    let source: FdSource;
    try {
      source = FdSource.open(p);
    } catch (e) {
      lastError = (e as Error).message;
      continue;
    }
    try {
      const elf = ElfFile.parse(source, p);
      const table = readFunctionTable(elf, source);
      return { id, ok: true, kind: 'file', buildId: elf.buildId, mtimeMs: source.mtimeMs, size: source.size, parts: table.parts() };
    } catch (e) {
      return { id, ok: false, error: (e as Error).message };
    } finally {
      source.close();
    }
  }
  return { id, ok: false, error: lastError };
}

function read(req: TableRequest): TableReply {
  if (req.kind === 'file') return readFile(req.id, req.openers);
  try {
    return { id: req.id, ok: true, kind: 'kernel', parts: KernelSymbols.load(req.path).parts() };
  } catch (e) {
    return { id: req.id, ok: false, error: (e as Error).message };
  }
}

parentPort?.on('message', (req: TableRequest) => parentPort!.postMessage(read(req)));
