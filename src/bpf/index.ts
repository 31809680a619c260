/**
 * Vigil's eBPF runtime over libbpf: ObjectSpec (an object parsed, no kernel
 * involved) → BpfObject (loaded) → Program (attach → Link), BpfMap and
 * TypedMap, ring and perf buffer readers, feature probes, typed errors.
 *
 * @module vigil/bpf
 */
export { ObjectSpec, BpfObject } from './object.js';
export type { ProgramSpec, MapSpec, LoadOptions, ConstantValue, FromBufferOptions } from './object.js';
export {
  SignatureError, setSigningPolicy, signingPolicy, checkObjectSignature, signObject, keyIdOf, localSigningKey, trustedKeys,
  buildKeyFiles, readSignatureFile,
} from './signing.js';
export type { SignatureState, SignatureFailure, SigningPolicy, TrustedKey } from './signing.js';
export { Program, onlineCpus, parseCpuList } from './program.js';
export type { UprobeOptions, PerfSamplingOptions } from './program.js';
export { BpfMap, TypedMap, PerCpuMap, numPossibleCpus } from './map.js';
export type { MapInfo } from './map.js';
export {
  Link, TcAttachment, XdpAttachment, SocketFilterAttachment, PerfEventAttachment, closeAll, detachTogether, detachEverything,
  openAttachments,
} from './link.js';
export type { Attachment } from './link.js';
export { RingBufferReader, PerfBufferReader } from './reader.js';
export type { RecordHandler, ReaderStats, ReaderOptions, RingBufferOptions, PerfBufferOptions } from './reader.js';
export { Btf } from './btf.js';
export { ensureTracefs, ensureBpffs, cgroup2, tracepointDir, mountTable } from './mounts.js';
export type { MountState, MountEntry } from './mounts.js';
export type { ObjectHandle, LinkHandle, ReaderHandle, BtfTypeJson, NativeMapInfo } from './native.js';
export type { BtfType, BtfVariable } from './btf.js';
export * as codec from './codec.js';
export type { Codec } from './codec.js';
export { BpfError, VerifierError, NotSupportedError, errnoName, summarizeVerifierLog } from './errors.js';
export { ProgramType, MapType, Helper, UpdateFlags, XdpFlags, programTypeName, mapTypeName } from './types.js';
export * from './features.js';
