// Tetragon's exec_id: base64 of "<node>:<ktime>:<pid>", one per process image
// on a node. Vigil's ktime is CLOCK_BOOTTIME ns (the exec's time; for an image
// known only from a fork, the iterator or /proc, the process start). The id is
// opaque to consumers; parseExecId exists for tests and debugging.

export function execId(node: string, execBootNs: bigint, pid: number): string {
  return Buffer.from(`${node}:${execBootNs}:${pid}`).toString('base64');
}

/** The parts of an exec id made by execId (the node name may itself hold ':'). */
export function parseExecId(id: string): { node: string; execBootNs: bigint; pid: number } | undefined {
  const text = Buffer.from(id, 'base64').toString();
  const m = /^(.*):(\d+):(\d+)$/s.exec(text);
  if (!m || execId(m[1] ?? '', BigInt(m[2] ?? '0'), Number(m[3])) !== id) return undefined;
  return { node: m[1] ?? '', execBootNs: BigInt(m[2] ?? '0'), pid: Number(m[3]) };
}
