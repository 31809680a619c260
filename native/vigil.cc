// SPDX-License-Identifier: Apache-2.0
//
// Vigil's native binding: a thin, mechanical layer over libbpf.
//
// One wrapper per libbpf operation; failures are thrown as Error objects
// carrying `errno` (positive) and `op` (the libbpf call that failed). Every
// decision (what to load, what to attach, how to decode) is made in
// TypeScript. Nothing here blocks the event loop: object load runs on a
// libuv worker thread, ring and perf buffers are drained from the loop when
// their epoll fd is readable, and each drain reaches JavaScript as one call.
//
// One file per concern: common.cc (errors, log capture, handles), object.cc,
// attach.cc, maps.cc, reader.cc, btf.cc; this one initialises libbpf and
// registers them all.

#include "vigil.h"

#include <malloc.h>
#include <net/if.h>

namespace vigil {
namespace {

Napi::Value LibbpfVersion(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value SetDebug(const Napi::CallbackInfo &info) {
  debug_libbpf = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

Napi::Value IfNameToIndex(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  std::string name = info[0].As<Napi::String>().Utf8Value();
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return ThrowErrno(info.Env(), "if_nametoindex", errno);
  return Napi::Number::New(info.Env(), idx);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // glibc raises its mmap threshold after every large free (up to 32 MiB),
  // so the big buffers of start-up (BTF, object images, verifier logs) and
  // of event bursts end up in the brk heap, which is rarely trimmed: ~30 MiB
  // of RSS that never comes back. A fixed threshold keeps such buffers in
  // their own mappings, returned to the kernel when freed (issue 11).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  libbpf_set_print(PrintFn);
  Export(env, exports, "libbpfVersion", LibbpfVersion);
  Export(env, exports, "setDebug", SetDebug);
  Export(env, exports, "ifNameToIndex", IfNameToIndex);
  Export(env, exports, "openObject", OpenObject);
  Export(env, exports, "closeObject", CloseObject);
  Export(env, exports, "objectPrograms", ObjectPrograms);
  Export(env, exports, "objectMaps", ObjectMaps);
  Export(env, exports, "programSetAutoload", ProgramSetAutoload);
  Export(env, exports, "programSetAutoattach", ProgramSetAutoattach);
  Export(env, exports, "programSetType", ProgramSetType);
  Export(env, exports, "programSetAttachTarget", ProgramSetAttachTarget);
  Export(env, exports, "programFd", ProgramFd);
  Export(env, exports, "mapFd", MapFd);
  Export(env, exports, "mapSetMaxEntries", MapSetMaxEntries);
  Export(env, exports, "mapInitialValue", MapInitialValue);
  Export(env, exports, "mapSetInitialValue", MapSetInitialValue);
  Export(env, exports, "mapReuseFd", MapReuseFd);
  Export(env, exports, "loadObject", LoadObject);
  Export(env, exports, "attachAuto", AttachAuto);
  Export(env, exports, "attachTracepoint", AttachTracepoint);
  Export(env, exports, "attachRawTracepoint", AttachRawTracepoint);
  Export(env, exports, "attachTrace", AttachTrace);
  Export(env, exports, "attachLsm", AttachLsm);
  Export(env, exports, "attachKprobe", AttachKprobe);
  Export(env, exports, "attachKprobeMulti", AttachKprobeMulti);
  Export(env, exports, "attachUprobe", AttachUprobe);
  Export(env, exports, "attachPerfEvent", AttachPerfEvent);
  Export(env, exports, "attachXdp", AttachXdp);
  Export(env, exports, "attachCgroup", AttachCgroup);
  Export(env, exports, "attachIter", AttachIter);
  Export(env, exports, "xdpAttach", XdpAttach);
  Export(env, exports, "xdpDetach", XdpDetach);
  Export(env, exports, "xdpQueryId", XdpQueryId);
  Export(env, exports, "tcHookCreate", TcHookCreate);
  Export(env, exports, "tcHookDestroy", TcHookDestroy);
  Export(env, exports, "tcAttach", TcAttach);
  Export(env, exports, "tcDetach", TcDetach);
  Export(env, exports, "socketAttachFilter", SocketAttachFilter);
  Export(env, exports, "socketDetachFilter", SocketDetachFilter);
  Export(env, exports, "linkDestroy", LinkDestroy);
  Export(env, exports, "linkDetachKeepEvent", LinkDetachKeepEvent);
  Export(env, exports, "linksDetachKeepEvents", LinksDetachKeepEvents);
  Export(env, exports, "linkFd", LinkFd);
  Export(env, exports, "linkPin", LinkPin);
  Export(env, exports, "linkUnpin", LinkUnpin);
  Export(env, exports, "linkDisconnect", LinkDisconnect);
  Export(env, exports, "iterRead", IterRead);
  Export(env, exports, "perfEventOpen", PerfEventOpen);
  Export(env, exports, "mapLookup", MapLookup);
  Export(env, exports, "mapLookupAndDelete", MapLookupAndDelete);
  Export(env, exports, "mapUpdate", MapUpdate);
  Export(env, exports, "mapDelete", MapDelete);
  Export(env, exports, "mapGetNextKey", MapGetNextKey);
  Export(env, exports, "mapLookupBatch", MapLookupBatch);
  Export(env, exports, "mapUpdateBatch", MapUpdateBatch);
  Export(env, exports, "mapDeleteBatch", MapDeleteBatch);
  Export(env, exports, "mapInfo", MapInfo);
  Export(env, exports, "progInfo", ProgInfo);
  Export(env, exports, "bpfIds", BpfIds);
  Export(env, exports, "bpfObjectInfo", BpfObjectInfo);
  Export(env, exports, "bpfTypeName", BpfTypeName);
  Export(env, exports, "enableStats", EnableStats);
  Export(env, exports, "mapCreate", MapCreate);
  Export(env, exports, "objPin", ObjPin);
  Export(env, exports, "objGet", ObjGet);
  Export(env, exports, "closeFd", CloseFd);
  Export(env, exports, "dupFd", DupFd);
  Export(env, exports, "numPossibleCpus", NumPossibleCpus);
  Export(env, exports, "ringbufOpen", RingbufOpen);
  Export(env, exports, "ringbufPositions", RingbufPositions);
  Export(env, exports, "perfbufOpen", PerfbufOpen);
  Export(env, exports, "readerDrain", ReaderDrain);
  Export(env, exports, "readerOversize", ReaderOversize);
  Export(env, exports, "readerPause", ReaderPause);
  Export(env, exports, "readerSetLimit", ReaderSetLimit);
  Export(env, exports, "readerStoppedEarly", ReaderStoppedEarly);
  Export(env, exports, "readerClose", ReaderClose);
  Export(env, exports, "probeProgType", ProbeProgType);
  Export(env, exports, "probeMapType", ProbeMapType);
  Export(env, exports, "probeHelper", ProbeHelper);
  Export(env, exports, "probeSignedProgLoad", ProbeSignedProgLoad);
  Export(env, exports, "execWithCapabilities", ExecWithCapabilities);
  Export(env, exports, "btfParse", BtfParse);
  Export(env, exports, "btfFindId", BtfFindId);
  Export(env, exports, "objectBtf", ObjectBtf);
  return exports;
}

}  // namespace
}  // namespace vigil

namespace {
// NODE_API_MODULE pastes its argument into a name: it takes an unqualified one.
Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vigil::Init(env, exports); }
}  // namespace

NODE_API_MODULE(vigil_native, InitModule)
