// SPDX-License-Identifier: Apache-2.0
//
// What the native binding's files share: errors thrown to JavaScript, libbpf
// log capture, the handles JavaScript holds (objects, links), and the
// registration function of each file. See vigil.cc for the layer's rules.
#pragma once

#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <errno.h>

#include <string>
#include <vector>

namespace vigil {

// ---------------------------------------------------------------------------
// Errors (common.cc)

/** Throws an Error with `errno` (positive) and `op` (the call that failed). */
Napi::Value ThrowErrno(Napi::Env env, const char *op, int err);
/** As ThrowErrno, with libbpf's captured messages as `log` (the verifier's, for a load). */
Napi::Value ThrowErrnoLog(Napi::Env env, const char *op, int err, const std::string &log);
Napi::Value ThrowType(Napi::Env env, const std::string &msg);
/** undefined when err is 0; otherwise the failure of `op` thrown, with err as its errno (either sign). */
Napi::Value Done(Napi::Env env, const char *op, int err);
/** For a lookup-like call that failed when err is non-zero: true, false when errno is ENOENT (no such entry), or thrown. */
Napi::Value Found(Napi::Env env, const char *op, int err);

#define CHECK_ARGS(n)                                                        \
  do {                                                                       \
    if (info.Length() < (n))                                                 \
      return ThrowType(info.Env(), std::string(__func__) + ": expected " #n  \
                                       " arguments");                        \
  } while (0)

// ---------------------------------------------------------------------------
// libbpf log capture (common.cc). libbpf's print callback is process-global;
// each call that wants libbpf's messages (open, load, attach) points this
// thread's capture at a string for its duration. Load runs on a worker
// thread, so the capture is thread-local.

extern thread_local std::string *tls_capture;
/** VIGIL_DEBUG: libbpf's messages (debug level included) go to stderr as well. */
extern bool debug_libbpf;

int PrintFn(enum libbpf_print_level level, const char *fmt, va_list args);

struct Capture {
  std::string text;
  std::string *prev;
  Capture() : prev(tls_capture) { tls_capture = &text; }
  ~Capture() { tls_capture = prev; }
};

// ---------------------------------------------------------------------------
// Handles (common.cc)

struct ObjectHandle {
  struct bpf_object *obj = nullptr;
  std::vector<char> image;  // libbpf reads an in-memory ELF until load
  bool loading = false;
};

struct LinkHandle {
  struct bpf_link *link = nullptr;
  // The perf event under a perf-event link, when Vigil opened it (tracepoints,
  // sampling): the link owns it; linkDetachKeepEvent detaches the program from
  // it and may leave its release to another process (see attach.cc).
  int perfFd = -1;
};

template <typename T>
T *Unwrap(const Napi::Value &v) {
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<T>>().Data();
}

/** The open object at info[i]; throws (and returns null) when it is closed. */
ObjectHandle *GetObject(const Napi::CallbackInfo &info, size_t i);
/** The program named info[objIdx + 1] of the object at info[objIdx]; throws ENOENT when none. */
struct bpf_program *GetProgram(const Napi::CallbackInfo &info, size_t objIdx);
/** The map named info[objIdx + 1] of the object at info[objIdx]; throws ENOENT when none. */
struct bpf_map *GetMap(const Napi::CallbackInfo &info, size_t objIdx);
Napi::Value WrapLink(Napi::Env env, struct bpf_link *link, int perfFd = -1);
/** The link wrapped, or the failure of `op` thrown with libbpf's log. */
Napi::Value LinkResult(Napi::Env env, const char *op, struct bpf_link *link, const std::string &log);
/** The bytes of a Buffer or typed array; null for null, undefined or anything else. */
void *BufData(const Napi::Value &v);

inline void Export(Napi::Env env, Napi::Object exports, const char *name, Napi::Value (*fn)(const Napi::CallbackInfo &)) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// ---------------------------------------------------------------------------
// The exported functions, by file (registered in vigil.cc under their JavaScript names)

// object.cc: open, configure, load
Napi::Value OpenObject(const Napi::CallbackInfo &info);
Napi::Value CloseObject(const Napi::CallbackInfo &info);
Napi::Value ObjectPrograms(const Napi::CallbackInfo &info);
Napi::Value ObjectMaps(const Napi::CallbackInfo &info);
Napi::Value ProgramSetAutoload(const Napi::CallbackInfo &info);
Napi::Value ProgramSetAutoattach(const Napi::CallbackInfo &info);
Napi::Value ProgramSetType(const Napi::CallbackInfo &info);
Napi::Value ProgramSetAttachTarget(const Napi::CallbackInfo &info);
Napi::Value ProgramFd(const Napi::CallbackInfo &info);
Napi::Value MapFd(const Napi::CallbackInfo &info);
Napi::Value MapSetMaxEntries(const Napi::CallbackInfo &info);
Napi::Value MapInitialValue(const Napi::CallbackInfo &info);
Napi::Value MapSetInitialValue(const Napi::CallbackInfo &info);
Napi::Value MapReuseFd(const Napi::CallbackInfo &info);
Napi::Value LoadObject(const Napi::CallbackInfo &info);

// attach.cc: attach, links, iterators, perf events
Napi::Value AttachAuto(const Napi::CallbackInfo &info);
Napi::Value AttachTracepoint(const Napi::CallbackInfo &info);
Napi::Value AttachRawTracepoint(const Napi::CallbackInfo &info);
Napi::Value AttachTrace(const Napi::CallbackInfo &info);
Napi::Value AttachLsm(const Napi::CallbackInfo &info);
Napi::Value AttachKprobe(const Napi::CallbackInfo &info);
Napi::Value AttachKprobeMulti(const Napi::CallbackInfo &info);
Napi::Value AttachUprobe(const Napi::CallbackInfo &info);
Napi::Value AttachPerfEvent(const Napi::CallbackInfo &info);
Napi::Value AttachXdp(const Napi::CallbackInfo &info);
Napi::Value AttachCgroup(const Napi::CallbackInfo &info);
Napi::Value AttachIter(const Napi::CallbackInfo &info);
Napi::Value XdpAttach(const Napi::CallbackInfo &info);
Napi::Value XdpDetach(const Napi::CallbackInfo &info);
Napi::Value XdpQueryId(const Napi::CallbackInfo &info);
Napi::Value TcHookCreate(const Napi::CallbackInfo &info);
Napi::Value TcHookDestroy(const Napi::CallbackInfo &info);
Napi::Value TcAttach(const Napi::CallbackInfo &info);
Napi::Value TcDetach(const Napi::CallbackInfo &info);
Napi::Value SocketAttachFilter(const Napi::CallbackInfo &info);
Napi::Value SocketDetachFilter(const Napi::CallbackInfo &info);
Napi::Value LinkDestroy(const Napi::CallbackInfo &info);
Napi::Value LinkDetachKeepEvent(const Napi::CallbackInfo &info);
Napi::Value LinksDetachKeepEvents(const Napi::CallbackInfo &info);
Napi::Value LinkFd(const Napi::CallbackInfo &info);
Napi::Value LinkPin(const Napi::CallbackInfo &info);
Napi::Value LinkUnpin(const Napi::CallbackInfo &info);
Napi::Value LinkDisconnect(const Napi::CallbackInfo &info);
Napi::Value IterRead(const Napi::CallbackInfo &info);
Napi::Value PerfEventOpen(const Napi::CallbackInfo &info);

// maps.cc: maps and descriptors by fd
Napi::Value MapLookup(const Napi::CallbackInfo &info);
Napi::Value MapLookupAndDelete(const Napi::CallbackInfo &info);
Napi::Value MapUpdate(const Napi::CallbackInfo &info);
Napi::Value MapDelete(const Napi::CallbackInfo &info);
Napi::Value MapGetNextKey(const Napi::CallbackInfo &info);
Napi::Value MapLookupBatch(const Napi::CallbackInfo &info);
Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info);
Napi::Value MapDeleteBatch(const Napi::CallbackInfo &info);
Napi::Value MapInfo(const Napi::CallbackInfo &info);
Napi::Value ProgInfo(const Napi::CallbackInfo &info);

// inventory.cc: the host's BPF objects, and how a program's or map's info is given to JavaScript
Napi::Object ProgInfoObject(Napi::Env env, const struct bpf_prog_info &pi, const std::vector<__u32> &maps);
Napi::Object MapInfoObject(Napi::Env env, const struct bpf_map_info &mi);
Napi::Value BpfIds(const Napi::CallbackInfo &info);
Napi::Value BpfObjectInfo(const Napi::CallbackInfo &info);
Napi::Value BpfTypeName(const Napi::CallbackInfo &info);
Napi::Value EnableStats(const Napi::CallbackInfo &info);
Napi::Value MapCreate(const Napi::CallbackInfo &info);
Napi::Value ObjPin(const Napi::CallbackInfo &info);
Napi::Value ObjGet(const Napi::CallbackInfo &info);
Napi::Value CloseFd(const Napi::CallbackInfo &info);
Napi::Value DupFd(const Napi::CallbackInfo &info);
Napi::Value NumPossibleCpus(const Napi::CallbackInfo &info);

// reader.cc: ring and perf buffer readers
Napi::Value RingbufOpen(const Napi::CallbackInfo &info);
Napi::Value RingbufPositions(const Napi::CallbackInfo &info);
Napi::Value PerfbufOpen(const Napi::CallbackInfo &info);
Napi::Value ReaderDrain(const Napi::CallbackInfo &info);
Napi::Value ReaderOversize(const Napi::CallbackInfo &info);
Napi::Value ReaderPause(const Napi::CallbackInfo &info);
Napi::Value ReaderSetLimit(const Napi::CallbackInfo &info);
Napi::Value ReaderStoppedEarly(const Napi::CallbackInfo &info);
Napi::Value ReaderClose(const Napi::CallbackInfo &info);

// btf.cc: feature probes and BTF
Napi::Value ProbeProgType(const Napi::CallbackInfo &info);
Napi::Value ProbeMapType(const Napi::CallbackInfo &info);
Napi::Value ProbeHelper(const Napi::CallbackInfo &info);
Napi::Value ProbeSignedProgLoad(const Napi::CallbackInfo &info);
Napi::Value ExecWithCapabilities(const Napi::CallbackInfo &info);
Napi::Value BtfParse(const Napi::CallbackInfo &info);
Napi::Value BtfFindId(const Napi::CallbackInfo &info);
Napi::Value ObjectBtf(const Napi::CallbackInfo &info);

}  // namespace vigil
