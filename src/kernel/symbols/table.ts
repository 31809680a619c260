// A mapped file's function table, read the one way the symbolizer and its
// parsing thread both use.
import { ElfFile, FdSource, SymbolTable, type ByteSource } from '../elf.js';

/** A file's function symbols: its .symtab/.dynsym, or a stripped file's debug file found by build id. */
export function readFunctionTable(elf: ElfFile, source: ByteSource): SymbolTable {
  const table = elf.symbols(source);
  // Stripped (no .symtab): a separate debug file found by build id has the full table.
  if (elf.buildId && !elf.hasSymtab(source)) return debugFileTable(elf.buildId) ?? table;
  return table;
}

function debugFileTable(buildId: string): SymbolTable | undefined {
  if (buildId.length < 4) return undefined;
  const p = `/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
  let source: ByteSource;
  try {
    source = FdSource.open(p);
  } catch {
    return undefined;
  }
  try {
    const elf = ElfFile.parse(source, p);
    return elf.buildId === buildId && elf.hasSymtab(source) ? elf.symbols(source) : undefined;
  } catch {
    return undefined;
  } finally {
    source.close();
  }
}
