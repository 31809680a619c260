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
// Each file's exports, by concern

void RegisterObject(Napi::Env env, Napi::Object exports);  // object.cc: open, configure, load
void RegisterAttach(Napi::Env env, Napi::Object exports);  // attach.cc: attach, links, iterators, perf events
void RegisterMaps(Napi::Env env, Napi::Object exports);    // maps.cc: maps and descriptors by fd
void RegisterReader(Napi::Env env, Napi::Object exports);  // reader.cc: ring and perf buffer readers
void RegisterBtf(Napi::Env env, Napi::Object exports);     // btf.cc: feature probes and BTF

}  // namespace vigil
