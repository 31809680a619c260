// SPDX-License-Identifier: Apache-2.0
//
// Object lifecycle: open an ELF image, list and configure its programs and maps
// before load, and load it on a libuv worker thread.

#include "vigil.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace vigil {

// ---------------------------------------------------------------------------
// Object lifecycle

Napi::Value OpenObject(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  Napi::Env env = info.Env();
  std::string objName = info[1].As<Napi::String>().Utf8Value();
  auto *h = new ObjectHandle();
  Capture cap;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = objName.c_str());
  if (info[0].IsBuffer()) {
    auto buf = info[0].As<Napi::Buffer<char>>();
    h->image.assign(buf.Data(), buf.Data() + buf.Length());
    h->obj = bpf_object__open_mem(h->image.data(), h->image.size(), &opts);
  } else {
    std::string path = info[0].As<Napi::String>().Utf8Value();
    h->obj = bpf_object__open_file(path.c_str(), &opts);
  }
  int err = libbpf_get_error(h->obj);
  if (h->obj == nullptr || err) {
    int e = err ? err : errno;
    h->obj = nullptr;
    delete h;
    return ThrowErrnoLog(env, "bpf_object__open", e, cap.text);
  }
  return Napi::External<ObjectHandle>::New(env, h, [](Napi::Env, ObjectHandle *o) {
    if (o->obj && !o->loading) bpf_object__close(o->obj);
    delete o;
  });
}

Napi::Value CloseObject(const Napi::CallbackInfo &info) {
  ObjectHandle *h = Unwrap<ObjectHandle>(info[0]);
  if (h && h->obj && !h->loading) {
    bpf_object__close(h->obj);
    h->obj = nullptr;
    h->image.clear();
    h->image.shrink_to_fit();
  }
  return info.Env().Undefined();
}

// An array of one object per program (or map) of the object at info[0],
// in the object's order; `fill` sets its fields.
template <typename T, typename Next, typename Fill>
static Napi::Value ListOf(const Napi::CallbackInfo &info, Next next, Fill fill) {
  ObjectHandle *h = GetObject(info, 0);
  if (!h) return info.Env().Undefined();
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (T *x = next(h->obj, nullptr); x; x = next(h->obj, x)) {
    Napi::Object o = Napi::Object::New(info.Env());
    fill(x, o);
    out.Set(i++, o);
  }
  return out;
}

Napi::Value ObjectPrograms(const Napi::CallbackInfo &info) {
  return ListOf<struct bpf_program>(info, bpf_object__next_program, [](struct bpf_program *p, Napi::Object o) {
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    o.Set("type", (double)bpf_program__type(p));
    o.Set("expectedAttachType", (double)bpf_program__expected_attach_type(p));
    o.Set("autoload", bpf_program__autoload(p));
    o.Set("insnCount", (double)bpf_program__insn_cnt(p));
  });
}

Napi::Value ObjectMaps(const Napi::CallbackInfo &info) {
  return ListOf<struct bpf_map>(info, bpf_object__next_map, [](struct bpf_map *m, Napi::Object o) {
    o.Set("name", bpf_map__name(m));
    o.Set("type", (double)bpf_map__type(m));
    o.Set("keySize", (double)bpf_map__key_size(m));
    o.Set("valueSize", (double)bpf_map__value_size(m));
    o.Set("maxEntries", (double)bpf_map__max_entries(m));
    o.Set("flags", (double)bpf_map__map_flags(m));
    o.Set("internal", bpf_map__is_internal(m));
  });
}

// Name(object, name, arg): one libbpf call on the program (or map) x named
// info[1] of the object at info[0]; undefined, or the failure thrown.
#define ON_NAMED(Name, nargs, Type, get, expr)                                 \
  Napi::Value Name(const Napi::CallbackInfo &info) {                           \
    CHECK_ARGS(nargs);                                                         \
    Type *x = get(info, 0);                                                    \
    if (!x) return info.Env().Undefined();                                     \
    return expr;                                                               \
  }
#define ON_PROGRAM(Name, nargs, expr) ON_NAMED(Name, nargs, struct bpf_program, GetProgram, expr)
#define ON_MAP(Name, nargs, expr) ON_NAMED(Name, nargs, struct bpf_map, GetMap, expr)
#define DONE(fn, ...) Done(info.Env(), #fn, fn(__VA_ARGS__))

ON_PROGRAM(ProgramSetAutoload, 3, DONE(bpf_program__set_autoload, x, info[2].As<Napi::Boolean>().Value()))
ON_PROGRAM(ProgramSetAutoattach, 3, (bpf_program__set_autoattach(x, info[2].As<Napi::Boolean>().Value()), info.Env().Undefined()))
ON_PROGRAM(ProgramSetType, 3, DONE(bpf_program__set_type, x, (enum bpf_prog_type)info[2].As<Napi::Number>().Uint32Value()))
ON_PROGRAM(ProgramSetAttachTarget, 3, DONE(bpf_program__set_attach_target, x, 0, info[2].As<Napi::String>().Utf8Value().c_str()))
ON_PROGRAM(ProgramFd, 2, Napi::Number::New(info.Env(), bpf_program__fd(x)))

ON_MAP(MapFd, 2, Napi::Number::New(info.Env(), bpf_map__fd(x)))
ON_MAP(MapSetMaxEntries, 3, DONE(bpf_map__set_max_entries, x, info[2].As<Napi::Number>().Uint32Value()))
ON_MAP(MapSetInitialValue, 3, DONE(bpf_map__set_initial_value, x, info[2].As<Napi::Buffer<char>>().Data(), info[2].As<Napi::Buffer<char>>().Length()))
ON_MAP(MapReuseFd, 3, DONE(bpf_map__reuse_fd, x, info[2].As<Napi::Number>().Int32Value()))

Napi::Value MapInitialValue(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  size_t size = 0;
  const void *data = bpf_map__initial_value(m, &size);
  if (data == nullptr) return info.Env().Null();
  return Napi::Buffer<char>::Copy(info.Env(), (const char *)data, size);
}

// Load runs off the main thread: the verifier can take tens of milliseconds.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, ObjectHandle *h, Napi::Value ref)
      : Napi::AsyncWorker(env), h_(h), deferred_(Napi::Promise::Deferred::New(env)) {
    ref_ = Napi::Persistent(ref.As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    Capture cap;
    err_ = bpf_object__load(h_->obj);
    if (err_) err_ = errno ? -errno : err_;
    log_ = cap.text;
  }
  void OnOK() override {
    h_->loading = false;
    Napi::Env env = Env();
    if (err_) {
      int e = err_ < 0 ? -err_ : err_;
      Napi::Error er = Napi::Error::New(env, std::string("bpf_object__load: ") + strerror(e));
      er.Set("errno", Napi::Number::New(env, e));
      er.Set("op", Napi::String::New(env, "bpf_object__load"));
      er.Set("log", Napi::String::New(env, log_));
      deferred_.Reject(er.Value());
    } else {
      deferred_.Resolve(Napi::String::New(env, log_));
    }
  }

 private:
  ObjectHandle *h_;
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Object> ref_;
  int err_ = 0;
  std::string log_;
};

Napi::Value LoadObject(const Napi::CallbackInfo &info) {
  ObjectHandle *h = GetObject(info, 0);
  if (!h) return info.Env().Undefined();
  if (h->loading) return ThrowType(info.Env(), "object is already loading");
  h->loading = true;
  // Keep the External alive while the worker runs.
  Napi::Object holder = Napi::Object::New(info.Env());
  holder.Set("h", info[0]);
  auto *w = new LoadWorker(info.Env(), h, holder);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace vigil
