// SPDX-License-Identifier: Apache-2.0
//
// What every file of the binding uses: errors thrown to JavaScript, the
// capture of libbpf's messages, and the handles of objects and links.

#include "vigil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

namespace vigil {

// ---------------------------------------------------------------------------
// Errors

namespace {

/** "op: strerror" with `errno` (positive; EINVAL for 0) and `op` set. */
Napi::Error ErrnoError(Napi::Env env, const char *op, int err) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  Napi::Error e = Napi::Error::New(env, std::string(op) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("op", Napi::String::New(env, op));
  return e;
}

}  // namespace

Napi::Value ThrowErrno(Napi::Env env, const char *op, int err) {
  ErrnoError(env, op, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Done(Napi::Env env, const char *op, int err) {
  if (err) return ThrowErrno(env, op, err);
  return env.Undefined();
}

Napi::Value Found(Napi::Env env, const char *op, int err) {
  if (err == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, op, errno);
}

Napi::Value ThrowType(Napi::Env env, const std::string &msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---------------------------------------------------------------------------
// libbpf log capture (see vigil.h)

thread_local std::string *tls_capture = nullptr;
bool debug_libbpf = false;

int PrintFn(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (debug_libbpf) {
    va_list copy;
    va_copy(copy, args);
    vfprintf(stderr, fmt, copy);
    va_end(copy);
  }
  if (tls_capture == nullptr) return 0;
  if (level == LIBBPF_DEBUG && !debug_libbpf) return 0;
  // Verifier state lines can run past any fixed buffer: size it to the line.
  char buf[4096];
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0 && n < (int)sizeof(buf)) {
    tls_capture->append(buf, n);
  } else if (n > 0) {
    std::string big((size_t)n + 1, '\0');
    vsnprintf(&big[0], big.size(), fmt, again);
    tls_capture->append(big.data(), n);
  }
  va_end(again);
  return 0;
}

Napi::Value ThrowErrnoLog(Napi::Env env, const char *op, int err, const std::string &log) {
  Napi::Error e = ErrnoError(env, op, err);
  e.Set("log", Napi::String::New(env, log));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---------------------------------------------------------------------------
// Handles

ObjectHandle *GetObject(const Napi::CallbackInfo &info, size_t i) {
  ObjectHandle *h = Unwrap<ObjectHandle>(info[i]);
  if (h == nullptr || h->obj == nullptr) {
    Napi::Error::New(info.Env(), "BPF object is closed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return h;
}

namespace {

/** The program or map named info[objIdx + 1] of the object at info[objIdx], found by `find`. */
template <typename T>
T *FindByName(const Napi::CallbackInfo &info, size_t objIdx, T *(*find)(const struct bpf_object *, const char *),
              const char *what) {
  ObjectHandle *h = GetObject(info, objIdx);
  if (h == nullptr) return nullptr;
  std::string name = info[objIdx + 1].As<Napi::String>().Utf8Value();
  T *found = find(h->obj, name.c_str());
  if (found == nullptr) {
    Napi::Error e = Napi::Error::New(info.Env(), std::string("no ") + what + " named " + name);
    e.Set("errno", Napi::Number::New(info.Env(), ENOENT));
    e.ThrowAsJavaScriptException();
  }
  return found;
}

}  // namespace

struct bpf_program *GetProgram(const Napi::CallbackInfo &info, size_t objIdx) {
  return FindByName(info, objIdx, bpf_object__find_program_by_name, "program");
}

struct bpf_map *GetMap(const Napi::CallbackInfo &info, size_t objIdx) {
  return FindByName(info, objIdx, bpf_object__find_map_by_name, "map");
}

Napi::Value WrapLink(Napi::Env env, struct bpf_link *link, int perfFd) {
  auto *h = new LinkHandle{link, perfFd};
  // The GC finaliser only frees the handle; a link that was never destroyed
  // by TypeScript is left attached on purpose (TypeScript owns lifetime).
  return Napi::External<LinkHandle>::New(env, h, [](Napi::Env, LinkHandle *l) {
    if (l->link) bpf_link__destroy(l->link);
    delete l;
  });
}

Napi::Value LinkResult(Napi::Env env, const char *op, struct bpf_link *link, const std::string &log) {
  if (link == nullptr) return ThrowErrnoLog(env, op, errno, log);
  return WrapLink(env, link);
}

void *BufData(const Napi::Value &v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (v.IsBuffer()) return v.As<Napi::Buffer<char>>().Data();
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    return (char *)ta.ArrayBuffer().Data() + ta.ByteOffset();
  }
  return nullptr;
}

}  // namespace vigil
