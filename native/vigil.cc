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
  RegisterObject(env, exports);
  RegisterAttach(env, exports);
  RegisterMaps(env, exports);
  RegisterReader(env, exports);
  RegisterBtf(env, exports);
  return exports;
}

}  // namespace
}  // namespace vigil

namespace {
// NODE_API_MODULE pastes its argument into a name: it takes an unqualified one.
Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vigil::Init(env, exports); }
}  // namespace

NODE_API_MODULE(vigil_native, InitModule)
