// The compiled libbpf binding, typed. Everything here is mechanical; policy
// lives in the modules that use it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { MapInfo } from './map.js';

/** Opaque handles owned by the native layer. */
export type ObjectHandle = { readonly __brand: 'bpf_object' };
export type LinkHandle = { readonly __brand: 'bpf_link' };
export type ReaderHandle = { readonly __brand: 'reader' };

export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
  insnCount: number;
}

export interface NativeMapInfo extends MapInfo {
  /** .rodata/.data/.bss/.kconfig maps that libbpf makes from globals. */
  internal: boolean;
}

export interface BtfTypeJson {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  index_type_id?: number;
  nr_elems?: number;
  bits_offset?: number;
  nr_bits?: number;
  encoding?: string;
  linkage?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size: number }[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number; offset: number; size: number }[];
  params?: { name: string; type_id: number }[];
  ret_type_id?: number;
}

export interface PerfEventAttr {
  type: number;
  config: number;
  sampleFreq?: number;
  samplePeriod?: number;
  wakeupEvents?: number;
  pid: number;
  cpu: number;
}

type Bytes = Buffer | Uint8Array | null;

/** A program loaded on the host, as bpf_prog_info describes it. */
export interface HostProgram {
  id: number; type: number; typeName: string; name: string; tag: string;
  /** Nanoseconds since boot (CLOCK_BOOTTIME) when it was loaded. */
  loadTimeNs: number; uid: number; verifiedInsns: number; xlatedLen: number; jitedLen: number;
  runCount: number; runTimeNs: number; btfId: number; mapIds: number[];
}

/** A map on the host (bpf_map_info). */
export interface HostMap {
  id: number; type: number; typeName: string; name: string; keySize: number; valueSize: number; maxEntries: number; flags: number;
}

/** A link on the host (bpf_link_info): its program and, by type, where it is attached. */
export interface HostLink {
  id: number; type: number; typeName: string; progId: number;
  /** raw_tracepoint: the tracepoint. */
  target?: string;
  attachType?: string; targetBtfObjId?: number; targetBtfId?: number; cgroupId?: number; netnsIno?: number; ifindex?: number;
}

export interface NativeBinding {
  openObject(src: string | Buffer, name: string): ObjectHandle;
  closeObject(h: ObjectHandle): void;
  objectPrograms(h: ObjectHandle): NativeProgramInfo[];
  objectMaps(h: ObjectHandle): NativeMapInfo[];
  programSetAutoload(h: ObjectHandle, prog: string, on: boolean): void;
  programSetAutoattach(h: ObjectHandle, prog: string, on: boolean): void;
  programSetType(h: ObjectHandle, prog: string, type: number): void;
  programSetAttachTarget(h: ObjectHandle, prog: string, fn: string): void;
  programFd(h: ObjectHandle, prog: string): number;
  mapFd(h: ObjectHandle, map: string): number;
  mapSetMaxEntries(h: ObjectHandle, map: string, n: number): void;
  mapInitialValue(h: ObjectHandle, map: string): Buffer | null;
  mapSetInitialValue(h: ObjectHandle, map: string, data: Buffer): void;
  mapReuseFd(h: ObjectHandle, map: string, fd: number): void;
  loadObject(h: ObjectHandle): Promise<string>;

  attachAuto(h: ObjectHandle, prog: string): LinkHandle;
  attachTracepoint(h: ObjectHandle, prog: string, category: string, name: string, cookie?: bigint): LinkHandle;
  attachRawTracepoint(h: ObjectHandle, prog: string, name: string): LinkHandle;
  attachTrace(h: ObjectHandle, prog: string): LinkHandle;
  attachLsm(h: ObjectHandle, prog: string): LinkHandle;
  attachKprobe(h: ObjectHandle, prog: string, fn: string, retprobe: boolean, offset: number, cookie?: bigint): LinkHandle;
  attachKprobeMulti(h: ObjectHandle, prog: string, pattern: string, retprobe: boolean): LinkHandle;
  attachUprobe(h: ObjectHandle, prog: string, retprobe: boolean, pid: number, binary: string,
    fn: string | null, offset: number, cookie?: bigint): LinkHandle;
  attachPerfEvent(h: ObjectHandle, prog: string, perfFd: number): LinkHandle;
  attachXdp(h: ObjectHandle, prog: string, ifindex: number): LinkHandle;
  attachCgroup(h: ObjectHandle, prog: string, cgroupFd: number): LinkHandle;
  attachIter(h: ObjectHandle, prog: string): LinkHandle;
  xdpAttach(ifindex: number, progFd: number, flags: number): void;
  xdpDetach(ifindex: number, flags: number): void;
  xdpQueryId(ifindex: number, flags: number): number;
  tcHookCreate(ifindex: number, attachPoint: number): boolean;
  tcHookDestroy(ifindex: number, attachPoint: number): void;
  tcAttach(ifindex: number, attachPoint: number, progFd: number, handle: number, priority: number):
    { handle: number; priority: number; progId: number };
  tcDetach(ifindex: number, attachPoint: number, handle: number, priority: number): void;
  socketAttachFilter(sockFd: number, progFd: number): void;
  socketDetachFilter(sockFd: number): void;

  linkDestroy(l: LinkHandle): void;
  /**
   * Destroys the link; for one whose perf event Vigil opened, the event is disabled first and a duplicate
   * of its descriptor returned (its release, slow for tracepoints, is then the caller's); -1 otherwise.
   */
  linkDetachKeepEvent(l: LinkHandle): number;
  /** linkDetachKeepEvent for every link at once, each on its own thread: the kept descriptors. */
  linksDetachKeepEvents(links: LinkHandle[]): number[];
  linkFd(l: LinkHandle): number;
  linkPin(l: LinkHandle, path: string): void;
  linkUnpin(l: LinkHandle): void;
  linkDisconnect(l: LinkHandle): void;
  iterRead(l: LinkHandle): Promise<Buffer>;
  perfEventOpen(attr: PerfEventAttr): number;

  mapLookup(fd: number, key: Bytes, value: Bytes, flags: number): boolean;
  mapLookupAndDelete(fd: number, key: Bytes, value: Bytes): boolean;
  mapUpdate(fd: number, key: Bytes, value: Bytes, flags: number): void;
  mapDelete(fd: number, key: Bytes): boolean;
  mapGetNextKey(fd: number, key: Bytes, next: Bytes): boolean;
  mapLookupBatch(fd: number, inBatch: Bytes, outBatch: Bytes, keys: Bytes, values: Bytes, count: number,
    andDelete: boolean): { count: number; done: boolean };
  mapUpdateBatch(fd: number, keys: Bytes, values: Bytes, count: number, flags: number): number;
  mapDeleteBatch(fd: number, keys: Bytes, count: number): number;
  mapInfo(fd: number): { id: number; type: number; keySize: number; valueSize: number; maxEntries: number;
    flags: number; name: string };
  progInfo(fd: number): { id: number; type: number; name: string; jitedLen: number; xlatedLen: number;
    runCount: number; runTimeNs: number; verifiedInsns: number };
  /** Ids of every program (0), map (1) or link (2) on the host. */
  bpfIds(kind: 0 | 1 | 2): number[];
  /** What the kernel says of program/map/link `id` (kind as bpfIds); null when it is gone. */
  bpfObjectInfo(kind: 0, id: number): HostProgram | null;
  bpfObjectInfo(kind: 1, id: number): HostMap | null;
  bpfObjectInfo(kind: 2, id: number): HostLink | null;
  /** libbpf's name of a program type (0), attach type (1) or link type (2); null when it does not know it. */
  bpfTypeName(kind: 0 | 1 | 2, value: number): string | null;
  /** BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): run-time statistics for every program while the fd is open. */
  enableStats(): number;
  /** A ring buffer map's consumer and producer positions (bytes, monotonic). */
  ringbufPositions(fd: number): { consumer: number; producer: number };
  mapCreate(type: number, name: string, keySize: number, valueSize: number, maxEntries: number, flags: number): number;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  numPossibleCpus(): number;

  ringbufOpen(mapFds: number[], onBatch: (count: number, bytes: number) => void, batchBytes: number):
    { handle: ReaderHandle; batch: ArrayBuffer };
  perfbufOpen(mapFd: number, pageCount: number, onBatch: (count: number, bytes: number) => void,
    onLost: (cpu: number, count: number) => void, batchBytes: number): { handle: ReaderHandle; batch: ArrayBuffer };
  readerDrain(h: ReaderHandle): number;
  readerOversize(h: ReaderHandle): number;
  readerPause(h: ReaderHandle, paused: boolean): void;
  readerSetLimit(h: ReaderHandle, oneBatch: boolean): void;
  readerStoppedEarly(h: ReaderHandle): boolean;
  readerClose(h: ReaderHandle): void;

  probeProgType(type: number): number;
  probeMapType(type: number): number;
  probeHelper(progType: number, helperId: number): number;
  /** BPF_PROG_LOAD with a junk signature checked against keyring `keyringId`: 0 if loaded, else the errno. */
  probeSignedProgLoad(keyringId: number): number;
  /** Lowers the bounding, ambient and inheritable sets to keep (bits lo | hi << 32) and execs; returns only by throwing. */
  execWithCapabilities(keepLo: number, keepHi: number, file: string, argv: string[], envp: string[]): never;
  btfParse(path: string, base?: string): (BtfTypeJson | null)[];
  btfFindId(path: string, name: string, kind: string): number;
  objectBtf(h: ObjectHandle): (BtfTypeJson | null)[] | null;
  libbpfVersion(): string;
  setDebug(on: boolean): void;
  ifNameToIndex(name: string): number;
}

function findAddon(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/bpf (tsx) or dist/src/bpf (compiled): walk up to the repository root.
  for (let dir = here, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'build', 'Release', 'vigil_native.node');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('vigil native addon not built (build/Release/vigil_native.node); run `npm run setup`');
}

let cached: NativeBinding | undefined;

/** The native binding, loaded on first use. */
export function native(): NativeBinding {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(findAddon()) as NativeBinding;
    if (process.env.VIGIL_DEBUG_LIBBPF) cached.setDebug(true);
  }
  return cached;
}
