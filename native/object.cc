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

Napi::Value ObjectPrograms(const Napi::CallbackInfo &info) {
  ObjectHandle *h = GetObject(info, 0);
  if (!h) return info.Env().Undefined();
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct bpf_program *p;
  bpf_object__for_each_program(p, h->obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    o.Set("type", (double)bpf_program__type(p));
    o.Set("expectedAttachType", (double)bpf_program__expected_attach_type(p));
    o.Set("autoload", bpf_program__autoload(p));
    o.Set("insnCount", (double)bpf_program__insn_cnt(p));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value ObjectMaps(const Napi::CallbackInfo &info) {
  ObjectHandle *h = GetObject(info, 0);
  if (!h) return info.Env().Undefined();
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  struct bpf_map *m;
  bpf_object__for_each_map(m, h->obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    o.Set("type", (double)bpf_map__type(m));
    o.Set("keySize", (double)bpf_map__key_size(m));
    o.Set("valueSize", (double)bpf_map__value_size(m));
    o.Set("maxEntries", (double)bpf_map__max_entries(m));
    o.Set("flags", (double)bpf_map__map_flags(m));
    o.Set("internal", bpf_map__is_internal(m));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value ProgramSetAutoload(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  int err = bpf_program__set_autoload(p, info[2].As<Napi::Boolean>().Value());
  return Done(info.Env(), "bpf_program__set_autoload", err);
}

Napi::Value ProgramSetAutoattach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  bpf_program__set_autoattach(p, info[2].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value ProgramSetType(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  int err = bpf_program__set_type(p, (enum bpf_prog_type)info[2].As<Napi::Number>().Uint32Value());
  return Done(info.Env(), "bpf_program__set_type", err);
}

Napi::Value ProgramSetAttachTarget(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string fn = info[2].As<Napi::String>().Utf8Value();
  int err = bpf_program__set_attach_target(p, 0, fn.c_str());
  return Done(info.Env(), "bpf_program__set_attach_target", err);
}

Napi::Value ProgramFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), bpf_program__fd(p));
}

Napi::Value MapFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), bpf_map__fd(m));
}

Napi::Value MapSetMaxEntries(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  int err = bpf_map__set_max_entries(m, info[2].As<Napi::Number>().Uint32Value());
  return Done(info.Env(), "bpf_map__set_max_entries", err);
}

Napi::Value MapInitialValue(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  size_t size = 0;
  const void *data = bpf_map__initial_value(m, &size);
  if (data == nullptr) return info.Env().Null();
  return Napi::Buffer<char>::Copy(info.Env(), (const char *)data, size);
}

Napi::Value MapSetInitialValue(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  auto buf = info[2].As<Napi::Buffer<char>>();
  int err = bpf_map__set_initial_value(m, buf.Data(), buf.Length());
  return Done(info.Env(), "bpf_map__set_initial_value", err);
}

Napi::Value MapReuseFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  int err = bpf_map__reuse_fd(m, info[2].As<Napi::Number>().Int32Value());
  return Done(info.Env(), "bpf_map__reuse_fd", err);
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
