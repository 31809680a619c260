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

#include <napi.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// Errors

Napi::Value ThrowErrno(Napi::Env env, const char *op, int err) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  std::string msg = std::string(op) + ": " + strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("op", Napi::String::New(env, op));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string &msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

#define CHECK_ARGS(n)                                                        \
  do {                                                                       \
    if (info.Length() < (n))                                                 \
      return ThrowType(info.Env(), std::string(__func__) + ": expected " #n  \
                                       " arguments");                        \
  } while (0)

// ---------------------------------------------------------------------------
// libbpf log capture. libbpf's print callback is process-global; each call
// that wants libbpf's messages (open, load, attach) points this thread's
// capture at a string for its duration. Load runs on a worker thread, so the
// capture is thread-local.

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

struct Capture {
  std::string text;
  std::string *prev;
  Capture() : prev(tls_capture) { tls_capture = &text; }
  ~Capture() { tls_capture = prev; }
};

Napi::Value ThrowErrnoLog(Napi::Env env, const char *op, int err, const std::string &log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  Napi::Error e = Napi::Error::New(env, std::string(op) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("op", Napi::String::New(env, op));
  e.Set("log", Napi::String::New(env, log));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---------------------------------------------------------------------------
// Handles

struct ObjectHandle {
  struct bpf_object *obj = nullptr;
  std::vector<char> image;  // libbpf reads an in-memory ELF until load
  bool loading = false;
};

struct LinkHandle {
  struct bpf_link *link = nullptr;
  // The perf event under a perf-event link, when Vigil opened it (tracepoints,
  // sampling): the link owns it; linkDetachKeepEvent detaches the program from
  // it and may leave its release to another process (see there).
  int perfFd = -1;
};

template <typename T>
T *Unwrap(const Napi::Value &v) {
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<T>>().Data();
}

ObjectHandle *GetObject(const Napi::CallbackInfo &info, size_t i) {
  ObjectHandle *h = Unwrap<ObjectHandle>(info[i]);
  if (h == nullptr || h->obj == nullptr) {
    Napi::Error::New(info.Env(), "BPF object is closed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return h;
}

struct bpf_program *GetProgram(const Napi::CallbackInfo &info, size_t objIdx) {
  ObjectHandle *h = GetObject(info, objIdx);
  if (h == nullptr) return nullptr;
  std::string name = info[objIdx + 1].As<Napi::String>().Utf8Value();
  struct bpf_program *p = bpf_object__find_program_by_name(h->obj, name.c_str());
  if (p == nullptr) {
    Napi::Error e = Napi::Error::New(info.Env(), "no program named " + name);
    e.Set("errno", Napi::Number::New(info.Env(), ENOENT));
    e.ThrowAsJavaScriptException();
  }
  return p;
}

struct bpf_map *GetMap(const Napi::CallbackInfo &info, size_t objIdx) {
  ObjectHandle *h = GetObject(info, objIdx);
  if (h == nullptr) return nullptr;
  std::string name = info[objIdx + 1].As<Napi::String>().Utf8Value();
  struct bpf_map *m = bpf_object__find_map_by_name(h->obj, name.c_str());
  if (m == nullptr) {
    Napi::Error e = Napi::Error::New(info.Env(), "no map named " + name);
    e.Set("errno", Napi::Number::New(info.Env(), ENOENT));
    e.ThrowAsJavaScriptException();
  }
  return m;
}

Napi::Value WrapLink(Napi::Env env, struct bpf_link *link, int perfFd = -1) {
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
  if (err) return ThrowErrno(info.Env(), "bpf_program__set_autoload", err);
  return info.Env().Undefined();
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
  if (err) return ThrowErrno(info.Env(), "bpf_program__set_type", err);
  return info.Env().Undefined();
}

Napi::Value ProgramSetAttachTarget(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string fn = info[2].As<Napi::String>().Utf8Value();
  int err = bpf_program__set_attach_target(p, 0, fn.c_str());
  if (err) return ThrowErrno(info.Env(), "bpf_program__set_attach_target", err);
  return info.Env().Undefined();
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
  if (err) return ThrowErrno(info.Env(), "bpf_map__set_max_entries", err);
  return info.Env().Undefined();
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
  if (err) return ThrowErrno(info.Env(), "bpf_map__set_initial_value", err);
  return info.Env().Undefined();
}

Napi::Value MapReuseFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_map *m = GetMap(info, 0);
  if (!m) return info.Env().Undefined();
  int err = bpf_map__reuse_fd(m, info[2].As<Napi::Number>().Int32Value());
  if (err) return ThrowErrno(info.Env(), "bpf_map__reuse_fd", err);
  return info.Env().Undefined();
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

// ---------------------------------------------------------------------------
// Attach

Napi::Value AttachAuto(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach", bpf_program__attach(p), cap.text);
}

// Optional trailing argument: a BPF cookie (bpf_get_attach_cookie), as a
// bigint or number, so one program can serve many attach points.
__u64 CookieArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return 0;
  if (info[i].IsBigInt()) {
    bool lossless;
    return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  }
  return (__u64)info[i].As<Napi::Number>().Int64Value();
}

// A tracepoint's perf event, opened as bpf_program__attach_tracepoint_opts
// opens it, but here, so that its descriptor is known (LinkHandle.perfFd).
// Returns the descriptor, or -errno.
static int OpenTracepointEvent(const std::string &cat, const std::string &name) {
  const char *roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
  int err = ENOENT;
  for (const char *root : roots) {
    std::string path = std::string(root) + "/events/" + cat + "/" + name + "/id";
    FILE *f = fopen(path.c_str(), "re");
    if (!f) {
      if (errno != ENOENT) err = errno;
      continue;
    }
    unsigned long long id = 0;
    int n = fscanf(f, "%llu", &id);
    fclose(f);
    if (n != 1) return -EINVAL;
    struct perf_event_attr attr = {};
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = id;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    int pfd = syscall(__NR_perf_event_open, &attr, -1 /* pid */, 0 /* cpu */, -1 /* group */, PERF_FLAG_FD_CLOEXEC);
    return pfd < 0 ? -errno : pfd;
  }
  return -err;
}

Napi::Value AttachTracepoint(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string cat = info[2].As<Napi::String>().Utf8Value();
  std::string name = info[3].As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_perf_event_opts, opts);
  opts.bpf_cookie = CookieArg(info, 4);
  int pfd = OpenTracepointEvent(cat, name);
  if (pfd < 0) return ThrowErrno(info.Env(), ("perf_event_open(tracepoint " + cat + "/" + name + ")").c_str(), -pfd);
  Capture cap;
  struct bpf_link *link = bpf_program__attach_perf_event_opts(p, pfd, &opts);
  if (link == nullptr) {
    int e = errno;
    close(pfd);
    return ThrowErrnoLog(info.Env(), "bpf_program__attach_perf_event_opts", e, cap.text);
  }
  return WrapLink(info.Env(), link, pfd);
}

Napi::Value AttachRawTracepoint(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string name = info[2].As<Napi::String>().Utf8Value();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_raw_tracepoint",
                    bpf_program__attach_raw_tracepoint(p, name.c_str()), cap.text);
}

// tp_btf, fentry, fexit, fmod_ret: the target is fixed at load time.
Napi::Value AttachTrace(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_trace", bpf_program__attach_trace(p), cap.text);
}

Napi::Value AttachLsm(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_lsm", bpf_program__attach_lsm(p), cap.text);
}

Napi::Value AttachKprobe(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string fn = info[2].As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_kprobe_opts, opts);
  opts.retprobe = info[3].As<Napi::Boolean>().Value();
  opts.offset = info[4].As<Napi::Number>().Int64Value();
  opts.bpf_cookie = CookieArg(info, 5);
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_kprobe_opts",
                    bpf_program__attach_kprobe_opts(p, fn.c_str(), &opts), cap.text);
}

Napi::Value AttachKprobeMulti(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  std::string pattern = info[2].As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_kprobe_multi_opts, opts);
  opts.retprobe = info[3].As<Napi::Boolean>().Value();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_kprobe_multi_opts",
                    bpf_program__attach_kprobe_multi_opts(p, pattern.c_str(), &opts), cap.text);
}

Napi::Value AttachUprobe(const Napi::CallbackInfo &info) {
  CHECK_ARGS(7);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  bool ret = info[2].As<Napi::Boolean>().Value();
  pid_t pid = info[3].As<Napi::Number>().Int32Value();
  std::string binary = info[4].As<Napi::String>().Utf8Value();
  std::string fn = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
  size_t off = (size_t)info[6].As<Napi::Number>().Int64Value();
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.retprobe = ret;
  opts.bpf_cookie = CookieArg(info, 7);
  opts.func_name = fn.empty() ? nullptr : fn.c_str();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_uprobe_opts",
                    bpf_program__attach_uprobe_opts(p, pid, binary.c_str(), off, &opts), cap.text);
}

Napi::Value AttachPerfEvent(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  int pfd = info[2].As<Napi::Number>().Int32Value();
  Capture cap;
  struct bpf_link *link = bpf_program__attach_perf_event(p, pfd);
  if (link == nullptr) return ThrowErrnoLog(info.Env(), "bpf_program__attach_perf_event", errno, cap.text);
  return WrapLink(info.Env(), link, pfd);
}

Napi::Value AttachXdp(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_xdp",
                    bpf_program__attach_xdp(p, info[2].As<Napi::Number>().Int32Value()), cap.text);
}

Napi::Value AttachCgroup(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_cgroup",
                    bpf_program__attach_cgroup(p, info[2].As<Napi::Number>().Int32Value()), cap.text);
}

Napi::Value AttachIter(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), "bpf_program__attach_iter", bpf_program__attach_iter(p, nullptr), cap.text);
}

// Legacy (netlink) XDP attach, for an explicit mode: flags carry
// XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE / XDP_FLAGS_UPDATE_IF_NOEXIST.
Napi::Value XdpAttach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  int err = bpf_xdp_attach(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
                           info[2].As<Napi::Number>().Uint32Value(), nullptr);
  if (err) return ThrowErrno(info.Env(), "bpf_xdp_attach", err);
  return info.Env().Undefined();
}

Napi::Value XdpDetach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  int err = bpf_xdp_detach(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Uint32Value(), nullptr);
  if (err) return ThrowErrno(info.Env(), "bpf_xdp_detach", err);
  return info.Env().Undefined();
}

Napi::Value XdpQueryId(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  __u32 id = 0;
  int err = bpf_xdp_query_id(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &id);
  if (err) return ThrowErrno(info.Env(), "bpf_xdp_query_id", err);
  return Napi::Number::New(info.Env(), id);
}

// TC (clsact). attach point: 1 = ingress, 2 = egress (BPF_TC_INGRESS/EGRESS).
Napi::Value TcHookCreate(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info[0].As<Napi::Number>().Int32Value(),
              .attach_point = (enum bpf_tc_attach_point)info[1].As<Napi::Number>().Int32Value());
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return ThrowErrno(info.Env(), "bpf_tc_hook_create", err);
  return Napi::Boolean::New(info.Env(), err == 0);
}

Napi::Value TcHookDestroy(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info[0].As<Napi::Number>().Int32Value(),
              .attach_point = (enum bpf_tc_attach_point)info[1].As<Napi::Number>().Int32Value());
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT) return ThrowErrno(info.Env(), "bpf_tc_hook_destroy", err);
  return info.Env().Undefined();
}

Napi::Value TcAttach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info[0].As<Napi::Number>().Int32Value(),
              .attach_point = (enum bpf_tc_attach_point)info[1].As<Napi::Number>().Int32Value());
  LIBBPF_OPTS(bpf_tc_opts, opts);
  opts.prog_fd = info[2].As<Napi::Number>().Int32Value();
  opts.handle = info[3].As<Napi::Number>().Uint32Value();
  opts.priority = info[4].As<Napi::Number>().Uint32Value();
  int err = bpf_tc_attach(&hook, &opts);
  if (err) return ThrowErrno(info.Env(), "bpf_tc_attach", err);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("handle", (double)opts.handle);
  out.Set("priority", (double)opts.priority);
  out.Set("progId", (double)opts.prog_id);
  return out;
}

Napi::Value TcDetach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info[0].As<Napi::Number>().Int32Value(),
              .attach_point = (enum bpf_tc_attach_point)info[1].As<Napi::Number>().Int32Value());
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = info[2].As<Napi::Number>().Uint32Value(),
              .priority = info[3].As<Napi::Number>().Uint32Value());
  int err = bpf_tc_detach(&hook, &opts);
  if (err) return ThrowErrno(info.Env(), "bpf_tc_detach", err);
  return info.Env().Undefined();
}

Napi::Value SocketAttachFilter(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  int sock = info[0].As<Napi::Number>().Int32Value();
  int prog = info[1].As<Napi::Number>().Int32Value();
  if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) < 0)
    return ThrowErrno(info.Env(), "setsockopt(SO_ATTACH_BPF)", errno);
  return info.Env().Undefined();
}

Napi::Value SocketDetachFilter(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  int sock = info[0].As<Napi::Number>().Int32Value();
  int dummy = 0;
  if (setsockopt(sock, SOL_SOCKET, SO_DETACH_BPF, &dummy, sizeof(dummy)) < 0)
    return ThrowErrno(info.Env(), "setsockopt(SO_DETACH_BPF)", errno);
  return info.Env().Undefined();
}

Napi::Value LinkDestroy(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (l && l->link) {
    int err = bpf_link__destroy(l->link);
    l->link = nullptr;
    if (err) return ThrowErrno(info.Env(), "bpf_link__destroy", err);
  }
  return info.Env().Undefined();
}

// linkDetachKeepEvent(handle): destroys the link, but first, for a link
// whose perf event Vigil opened (tracepoints, sampling), disables the event
// and keeps a duplicate of its descriptor, which it returns (-1 otherwise).
//
// Releasing a tracepoint's perf event waits in the kernel for RCU grace
// periods under event_mutex (perf_trace_event_unreg), one tracepoint after
// another: ~50 of them take seconds, however many threads close them.
// Destroying the link while the event lives on only detaches the program
// (no grace period): it runs no more once this returns. Whoever closes the
// returned descriptor last pays for the event's release.
Napi::Value LinkDetachKeepEvent(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (l == nullptr) return ThrowType(info.Env(), "linkDetachKeepEvent: not a link");
  int held = -1;
  if (l->link) {
    if (l->perfFd >= 0) {
      ioctl(l->perfFd, PERF_EVENT_IOC_DISABLE, 0);
      held = fcntl(l->perfFd, F_DUPFD_CLOEXEC, 0);
    }
    int err = bpf_link__destroy(l->link);
    l->link = nullptr;
    if (err) {
      if (held >= 0) close(held);
      return ThrowErrno(info.Env(), "bpf_link__destroy", err < 0 ? -err : err);
    }
  }
  return Napi::Number::New(info.Env(), held);
}

// linksDetachKeepEvents(handles): linkDetachKeepEvent for many links at
// once, each on a thread of its own; returns when all are detached, with
// the kept descriptors. One after another, detaching ~50 tracepoint programs
// took 20-50 ms each here; at once, about as long as one.
struct DetachJob {
  LinkHandle *l;
  int held;
  int err;
};

static void *DetachJobRun(void *arg) {
  auto *j = static_cast<DetachJob *>(arg);
  if (j->l->perfFd >= 0) {
    ioctl(j->l->perfFd, PERF_EVENT_IOC_DISABLE, 0);
    j->held = fcntl(j->l->perfFd, F_DUPFD_CLOEXEC, 0);
  }
  int err = bpf_link__destroy(j->l->link);
  j->err = err < 0 ? -err : err;
  return nullptr;
}

Napi::Value LinksDetachKeepEvents(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  if (!info[0].IsArray()) return ThrowType(info.Env(), "linksDetachKeepEvents: expected an array of links");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<DetachJob> jobs;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    LinkHandle *l = Unwrap<LinkHandle>(arr.Get(i));
    if (l == nullptr) return ThrowType(info.Env(), "linksDetachKeepEvents: element " + std::to_string(i) + " is not a link");
    if (l->link) jobs.push_back(DetachJob{l, -1, 0});
  }
  std::vector<pthread_t> threads(jobs.size());
  std::vector<bool> started(jobs.size(), false);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (size_t i = 0; i < jobs.size(); i++) started[i] = pthread_create(&threads[i], &attr, DetachJobRun, &jobs[i]) == 0;
  pthread_attr_destroy(&attr);
  for (size_t i = 0; i < jobs.size(); i++) {
    if (started[i]) pthread_join(threads[i], nullptr);
    else DetachJobRun(&jobs[i]);  // no thread to be had: detached here
  }
  Napi::Env env = info.Env();
  Napi::Array held = Napi::Array::New(env);
  int firstErr = 0;
  for (DetachJob &j : jobs) {
    j.l->link = nullptr;
    if (j.held >= 0) held.Set(held.Length(), Napi::Number::New(env, j.held));
    if (j.err && !firstErr) firstErr = j.err;
  }
  if (firstErr) {
    for (DetachJob &j : jobs) if (j.held >= 0) close(j.held);
    return ThrowErrno(env, "bpf_link__destroy", firstErr);
  }
  return held;
}

Napi::Value LinkFd(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (!l || !l->link) return ThrowType(info.Env(), "link is closed");
  return Napi::Number::New(info.Env(), bpf_link__fd(l->link));
}

Napi::Value LinkPin(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (!l || !l->link) return ThrowType(info.Env(), "link is closed");
  std::string path = info[1].As<Napi::String>().Utf8Value();
  int err = bpf_link__pin(l->link, path.c_str());
  if (err) return ThrowErrno(info.Env(), "bpf_link__pin", err);
  return info.Env().Undefined();
}

Napi::Value LinkUnpin(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (!l || !l->link) return ThrowType(info.Env(), "link is closed");
  int err = bpf_link__unpin(l->link);
  if (err) return ThrowErrno(info.Env(), "bpf_link__unpin", err);
  return info.Env().Undefined();
}

Napi::Value LinkDisconnect(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (l && l->link) bpf_link__disconnect(l->link);
  return info.Env().Undefined();
}

// Reading an iterator runs to completion in the kernel; a task iterator over
// a few thousand tasks takes milliseconds, so it is read on a worker thread.
class IterReadWorker : public Napi::AsyncWorker {
 public:
  IterReadWorker(Napi::Env env, int linkFd)
      : Napi::AsyncWorker(env), linkFd_(linkFd), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int fd = bpf_iter_create(linkFd_);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        err_ = errno;
        break;
      }
      if (n == 0) break;
      data_.insert(data_.end(), buf, buf + n);
    }
    close(fd);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      Napi::Error er = Napi::Error::New(env, std::string("bpf_iter read: ") + strerror(err_));
      er.Set("errno", Napi::Number::New(env, err_));
      er.Set("op", Napi::String::New(env, "bpf_iter_create/read"));
      deferred_.Reject(er.Value());
    } else {
      deferred_.Resolve(Napi::Buffer<char>::Copy(env, data_.data(), data_.size()));
    }
  }

 private:
  int linkFd_;
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  std::vector<char> data_;
};

Napi::Value IterRead(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (!l || !l->link) return ThrowType(info.Env(), "link is closed");
  auto *w = new IterReadWorker(info.Env(), bpf_link__fd(l->link));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// perf_event_open(2), for sampling programs. attr fields come from TypeScript.
Napi::Value PerfEventOpen(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  Napi::Object a = info[0].As<Napi::Object>();
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = a.Get("type").As<Napi::Number>().Uint32Value();
  attr.config = (uint64_t)a.Get("config").As<Napi::Number>().Int64Value();
  if (a.Has("sampleFreq") && a.Get("sampleFreq").IsNumber()) {
    attr.freq = 1;
    attr.sample_freq = (uint64_t)a.Get("sampleFreq").As<Napi::Number>().Int64Value();
  } else if (a.Has("samplePeriod") && a.Get("samplePeriod").IsNumber()) {
    attr.sample_period = (uint64_t)a.Get("samplePeriod").As<Napi::Number>().Int64Value();
  }
  if (a.Has("wakeupEvents") && a.Get("wakeupEvents").IsNumber())
    attr.wakeup_events = a.Get("wakeupEvents").As<Napi::Number>().Uint32Value();
  attr.disabled = 0;
  attr.inherit = 0;
  int pid = a.Get("pid").As<Napi::Number>().Int32Value();
  int cpu = a.Get("cpu").As<Napi::Number>().Int32Value();
  long fd = syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "perf_event_open", errno);
  return Napi::Number::New(info.Env(), (double)fd);
}

// ---------------------------------------------------------------------------
// Maps (by fd, so pinned maps and maps of other objects work alike)

void *BufData(const Napi::Value &v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (v.IsBuffer()) return v.As<Napi::Buffer<char>>().Data();
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    return (char *)ta.ArrayBuffer().Data() + ta.ByteOffset();
  }
  return nullptr;
}

Napi::Value MapLookup(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  int err = bpf_map_lookup_elem_flags(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), BufData(info[2]),
                                      (uint64_t)info[3].As<Napi::Number>().Int64Value());
  if (err) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    return ThrowErrno(info.Env(), "bpf_map_lookup_elem", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value MapLookupAndDelete(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  int err = bpf_map_lookup_and_delete_elem(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), BufData(info[2]));
  if (err) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    return ThrowErrno(info.Env(), "bpf_map_lookup_and_delete_elem", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  int err = bpf_map_update_elem(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), BufData(info[2]),
                                (uint64_t)info[3].As<Napi::Number>().Int64Value());
  if (err) return ThrowErrno(info.Env(), "bpf_map_update_elem", errno);
  return info.Env().Undefined();
}

Napi::Value MapDelete(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  int err = bpf_map_delete_elem(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]));
  if (err) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    return ThrowErrno(info.Env(), "bpf_map_delete_elem", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value MapGetNextKey(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  int err = bpf_map_get_next_key(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), BufData(info[2]));
  if (err) {
    if (errno == ENOENT) return Napi::Boolean::New(info.Env(), false);
    return ThrowErrno(info.Env(), "bpf_map_get_next_key", errno);
  }
  return Napi::Boolean::New(info.Env(), true);
}

// Batch lookup (and lookup-and-delete): returns the number of elements read
// and whether the map is exhausted. inBatch/outBatch are opaque key-sized
// cursors owned by TypeScript.
Napi::Value MapLookupBatch(const Napi::CallbackInfo &info) {
  CHECK_ARGS(7);
  int fd = info[0].As<Napi::Number>().Int32Value();
  void *in = BufData(info[1]);
  void *out = BufData(info[2]);
  void *keys = BufData(info[3]);
  void *values = BufData(info[4]);
  __u32 count = info[5].As<Napi::Number>().Uint32Value();
  bool andDelete = info[6].As<Napi::Boolean>().Value();
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int err = andDelete ? bpf_map_lookup_and_delete_batch(fd, in, out, keys, values, &count, &opts)
                      : bpf_map_lookup_batch(fd, in, out, keys, values, &count, &opts);
  bool done = false;
  if (err) {
    if (errno == ENOENT) {
      done = true;
    } else {
      return ThrowErrno(info.Env(), andDelete ? "bpf_map_lookup_and_delete_batch" : "bpf_map_lookup_batch", errno);
    }
  }
  Napi::Object res = Napi::Object::New(info.Env());
  res.Set("count", (double)count);
  res.Set("done", done);
  return res;
}

Napi::Value MapUpdateBatch(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  __u32 count = info[3].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = (uint64_t)info[4].As<Napi::Number>().Int64Value());
  int err = bpf_map_update_batch(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), BufData(info[2]), &count, &opts);
  if (err) return ThrowErrno(info.Env(), "bpf_map_update_batch", errno);
  return Napi::Number::New(info.Env(), count);
}

Napi::Value MapDeleteBatch(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  __u32 count = info[2].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int err = bpf_map_delete_batch(info[0].As<Napi::Number>().Int32Value(), BufData(info[1]), &count, &opts);
  if (err && errno != ENOENT) return ThrowErrno(info.Env(), "bpf_map_delete_batch", errno);
  return Napi::Number::New(info.Env(), count);
}

Napi::Value MapInfo(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  __u32 len = sizeof(mi);
  int err = bpf_obj_get_info_by_fd(info[0].As<Napi::Number>().Int32Value(), &mi, &len);
  if (err) return ThrowErrno(info.Env(), "bpf_obj_get_info_by_fd", errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("id", (double)mi.id);
  o.Set("type", (double)mi.type);
  o.Set("keySize", (double)mi.key_size);
  o.Set("valueSize", (double)mi.value_size);
  o.Set("maxEntries", (double)mi.max_entries);
  o.Set("flags", (double)mi.map_flags);
  o.Set("name", mi.name);
  return o;
}

Napi::Value ProgInfo(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  struct bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  __u32 len = sizeof(pi);
  int err = bpf_obj_get_info_by_fd(info[0].As<Napi::Number>().Int32Value(), &pi, &len);
  if (err) return ThrowErrno(info.Env(), "bpf_obj_get_info_by_fd", errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("id", (double)pi.id);
  o.Set("type", (double)pi.type);
  o.Set("name", pi.name);
  o.Set("jitedLen", (double)pi.jited_prog_len);
  o.Set("xlatedLen", (double)pi.xlated_prog_len);
  o.Set("runCount", (double)pi.run_cnt);
  o.Set("runTimeNs", (double)pi.run_time_ns);
  o.Set("verifiedInsns", (double)pi.verified_insns);
  return o;
}

// Turns on run-time statistics (run_cnt, run_time_ns) for every program on
// the host while the returned descriptor is open (BPF_ENABLE_STATS): closing
// it, or the process ending, turns them off again, unlike the sysctl.
Napi::Value EnableStats(const Napi::CallbackInfo &info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return ThrowErrno(info.Env(), "bpf_enable_stats", errno);
  return Napi::Number::New(info.Env(), fd);
}

// A ring buffer map's consumer and producer positions: its first two pages,
// mapped read-only for the read (libbpf 1.1 has no ring__avail_data_size).
Napi::Value RingbufPositions(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  long page = sysconf(_SC_PAGESIZE);
  void *p = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, info[0].As<Napi::Number>().Int32Value(), 0);
  if (p == MAP_FAILED) return ThrowErrno(info.Env(), "mmap(ringbuf)", errno);
  unsigned long consumer = __atomic_load_n((unsigned long *)p, __ATOMIC_ACQUIRE);
  unsigned long producer = __atomic_load_n((unsigned long *)((char *)p + page), __ATOMIC_ACQUIRE);
  munmap(p, 2 * page);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("consumer", (double)consumer);
  o.Set("producer", (double)producer);
  return o;
}

Napi::Value ObjPin(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (bpf_obj_pin(info[0].As<Napi::Number>().Int32Value(), path.c_str()))
    return ThrowErrno(info.Env(), "bpf_obj_pin", errno);
  return info.Env().Undefined();
}

Napi::Value ObjGet(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return ThrowErrno(info.Env(), "bpf_obj_get", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MapCreate(const Napi::CallbackInfo &info) {
  CHECK_ARGS(6);
  std::string name = info[1].As<Napi::String>().Utf8Value();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = info[5].As<Napi::Number>().Uint32Value());
  int fd = bpf_map_create((enum bpf_map_type)info[0].As<Napi::Number>().Uint32Value(), name.c_str(),
                          info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value(),
                          info[4].As<Napi::Number>().Uint32Value(), &opts);
  if (fd < 0) return ThrowErrno(info.Env(), "bpf_map_create", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0 && close(fd) < 0) return ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

Napi::Value DupFd(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return ThrowErrno(info.Env(), "fcntl(F_DUPFD_CLOEXEC)", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo &info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) return ThrowErrno(info.Env(), "libbpf_num_possible_cpus", n);
  return Napi::Number::New(info.Env(), n);
}

// ---------------------------------------------------------------------------
// Event buffers.
//
// A reader owns one batch ArrayBuffer shared with JavaScript. On each wakeup
// the loop drains every ring into it as [u32 size][u32 tag][data][pad to 8],
// then calls JavaScript once with (recordCount, byteLength). When the batch
// is full mid-drain it is flushed to JavaScript and reused. `tag` is the ring
// index for ring buffers and the CPU for perf buffers.

struct Reader {
  napi_env env = nullptr;
  Napi::FunctionReference onBatch;
  Napi::FunctionReference onLost;  // perf buffer only
  Napi::Reference<Napi::ArrayBuffer> batchRef;
  uint8_t *batch = nullptr;
  size_t batchCap = 0;
  size_t used = 0;
  uint32_t count = 0;
  uv_poll_t poll;
  bool polling = false;
  bool closed = false;
  bool inCallback = false;
  bool jsError = false;
  struct ring_buffer *rb = nullptr;
  struct perf_buffer *pb = nullptr;
  std::vector<int> ringFds;
  uint64_t oversize = 0;  // records larger than the batch itself, dropped and counted
  // One batch per drain (readerSetLimit): a drain stops once half the batch
  // is filled, leaving the rest in the ring, so that what one drain hands to
  // JavaScript is bounded by the batch, not by the ring.
  bool oneBatch = false;
  bool stoppedEarly = false;
};

// Returned by a sample callback to end a drain after keeping its record
// (libbpf has consumed the record by then; ring_buffer__consume_n is newer
// than the libbpf this builds against).
constexpr int kStopDrain = -EALREADY;

void Flush(Reader *r) {
  if (r->count == 0 || r->jsError) return;
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  uint32_t n = r->count;
  size_t bytes = r->used;
  r->count = 0;
  r->used = 0;
  r->inCallback = true;
  r->onBatch.Call({Napi::Number::New(env, n), Napi::Number::New(env, (double)bytes)});
  r->inCallback = false;
  if (env.IsExceptionPending()) r->jsError = true;
}

int Append(Reader *r, uint32_t tag, const void *data, size_t size) {
  size_t need = 8 + ((size + 7) & ~(size_t)7);
  if (need > r->batchCap) {
    r->oversize++;
    return 0;
  }
  if (r->used + need > r->batchCap) Flush(r);
  if (r->jsError || r->closed) return -ECANCELED;
  uint8_t *p = r->batch + r->used;
  uint32_t sz = (uint32_t)size;
  memcpy(p, &sz, 4);
  memcpy(p + 4, &tag, 4);
  memcpy(p + 8, data, size);
  r->used += need;
  r->count++;
  if (r->oneBatch && r->rb && r->used >= r->batchCap / 2) {
    r->stoppedEarly = true;
    return kStopDrain;
  }
  return 0;
}

struct RingCtx {
  Reader *r;
  uint32_t index;
};

int RingSampleTagged(void *ctx, void *data, size_t size) {
  RingCtx *c = (RingCtx *)ctx;
  return Append(c->r, c->index, data, size);
}

void PerfSample(void *ctx, int cpu, void *data, __u32 size) {
  Append((Reader *)ctx, (uint32_t)cpu, data, size);
}

void PerfLost(void *ctx, int cpu, __u64 cnt) {
  Reader *r = (Reader *)ctx;
  if (r->onLost.IsEmpty() || r->jsError) return;
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  r->onLost.Call({Napi::Number::New(env, cpu), Napi::Number::New(env, (double)cnt)});
  if (env.IsExceptionPending()) r->jsError = true;
}

int Drain(Reader *r) {
  int n;
  r->stoppedEarly = false;
  if (r->rb)
    n = ring_buffer__consume(r->rb);
  else
    n = perf_buffer__consume(r->pb);
  if (n == kStopDrain && r->stoppedEarly) n = (int)r->count;
  Flush(r);
  return n;
}

void OnPollable(uv_poll_t *handle, int status, int events) {
  Reader *r = (Reader *)handle->data;
  if (r->closed || status < 0) return;
  Napi::Env env(r->env);
  Napi::HandleScope scope(env);
  r->jsError = false;
  Drain(r);
  if (env.IsExceptionPending()) {
    // An exception thrown by the batch handler surfaces as an uncaught
    // exception, as it would from any other I/O callback.
    napi_value exc;
    napi_get_and_clear_last_exception(r->env, &exc);
    napi_fatal_exception(r->env, exc);
  }
}

struct ReaderHolder {
  Reader *r;
  std::vector<RingCtx *> ctxs;
};

void FreeReader(ReaderHolder *h) {
  Reader *r = h->r;
  if (r == nullptr) return;
  r->closed = true;
  if (r->rb) {
    ring_buffer__free(r->rb);
    r->rb = nullptr;
  }
  if (r->pb) {
    perf_buffer__free(r->pb);
    r->pb = nullptr;
  }
  for (RingCtx *c : h->ctxs) delete c;
  h->ctxs.clear();
  r->onBatch.Reset();
  r->onLost.Reset();
  r->batchRef.Reset();
  h->r = nullptr;
  if (r->polling) {
    uv_poll_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, [](uv_handle_t *handle) { delete (Reader *)handle->data; });
  } else {
    delete r;
  }
}

Napi::Value StartReader(Napi::Env env, ReaderHolder *h, int epollFd) {
  Reader *r = h->r;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  r->poll.data = r;
  if (uv_poll_init(loop, &r->poll, epollFd) != 0) {
    FreeReader(h);
    delete h;
    return ThrowErrno(env, "uv_poll_init", EINVAL);
  }
  r->polling = true;
  uv_poll_start(&r->poll, UV_READABLE, OnPollable);
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<ReaderHolder>::New(env, h, [](Napi::Env, ReaderHolder *hh) {
            FreeReader(hh);
            delete hh;
          }));
  out.Set("batch", r->batchRef.Value());
  return out;
}

Reader *NewReader(Napi::Env env, Napi::Function onBatch, size_t batchBytes) {
  Reader *r = new Reader();
  r->env = env;
  r->onBatch = Napi::Persistent(onBatch);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, batchBytes);
  r->batchRef = Napi::Persistent(ab);
  r->batch = (uint8_t *)ab.Data();
  r->batchCap = batchBytes;
  return r;
}

// ringbufOpen(mapFds: number[], onBatch(count, bytes), batchBytes)
Napi::Value RingbufOpen(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  Napi::Env env = info.Env();
  Napi::Array fds = info[0].As<Napi::Array>();
  if (fds.Length() == 0) return ThrowType(env, "ringbufOpen: no maps");
  auto *h = new ReaderHolder();
  h->r = NewReader(env, info[1].As<Napi::Function>(), info[2].As<Napi::Number>().Uint32Value());
  for (uint32_t i = 0; i < fds.Length(); i++) {
    int fd = fds.Get(i).As<Napi::Number>().Int32Value();
    RingCtx *c = new RingCtx{h->r, i};
    h->ctxs.push_back(c);
    int err;
    if (i == 0) {
      h->r->rb = ring_buffer__new(fd, RingSampleTagged, c, nullptr);
      err = h->r->rb ? 0 : -errno;
    } else {
      err = ring_buffer__add(h->r->rb, fd, RingSampleTagged, c);
    }
    if (err) {
      FreeReader(h);
      delete h;
      return ThrowErrno(env, i == 0 ? "ring_buffer__new" : "ring_buffer__add", err);
    }
  }
  return StartReader(env, h, ring_buffer__epoll_fd(h->r->rb));
}

// perfbufOpen(mapFd, pageCount, onBatch(count, bytes), onLost(cpu, n), batchBytes)
Napi::Value PerfbufOpen(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  Napi::Env env = info.Env();
  auto *h = new ReaderHolder();
  h->r = NewReader(env, info[2].As<Napi::Function>(), info[4].As<Napi::Number>().Uint32Value());
  h->r->onLost = Napi::Persistent(info[3].As<Napi::Function>());
  h->r->pb = perf_buffer__new(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Uint32Value(),
                              PerfSample, PerfLost, h->r, nullptr);
  if (h->r->pb == nullptr) {
    int e = errno;
    FreeReader(h);
    delete h;
    return ThrowErrno(env, "perf_buffer__new", e);
  }
  return StartReader(env, h, perf_buffer__epoll_fd(h->r->pb));
}

// readerDrain(handle): drain now (used on a timer for rings whose producer
// suppresses wakeups, and at close). Returns records consumed.
Napi::Value ReaderDrain(const Napi::CallbackInfo &info) {
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  if (!h || !h->r || h->r->closed) return Napi::Number::New(info.Env(), 0);
  if (h->r->inCallback) return ThrowType(info.Env(), "readerDrain called from inside its own batch callback");
  h->r->jsError = false;
  int n = Drain(h->r);
  if (n < 0 && n != -ECANCELED && !info.Env().IsExceptionPending())
    return ThrowErrno(info.Env(), h->r->rb ? "ring_buffer__consume" : "perf_buffer__consume", n);
  return Napi::Number::New(info.Env(), n);
}

// readerPause(handle, paused): stop (or restart) watching the epoll
// descriptor. While paused nothing is read on wakeups, so the rings fill and
// the BPF side drops and counts (vigil_lost): back-pressure from user space.
// The descriptor is level-triggered, so a paused reader must not be polled.
Napi::Value ReaderPause(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  bool paused = info[1].As<Napi::Boolean>().Value();
  if (!h || !h->r || h->r->closed || !h->r->polling) return info.Env().Undefined();
  if (paused)
    uv_poll_stop(&h->r->poll);
  else
    uv_poll_start(&h->r->poll, UV_READABLE, OnPollable);
  return info.Env().Undefined();
}

// readerSetLimit(handle, oneBatch): with oneBatch, each drain stops once
// half the batch buffer is filled (the rest stays in the ring for the next
// drain). readerStoppedEarly(handle): whether the last drain stopped so.
Napi::Value ReaderSetLimit(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  if (h && h->r) h->r->oneBatch = info[1].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

Napi::Value ReaderStoppedEarly(const Napi::CallbackInfo &info) {
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  return Napi::Boolean::New(info.Env(), h && h->r && h->r->stoppedEarly);
}

Napi::Value ReaderOversize(const Napi::CallbackInfo &info) {
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  if (!h || !h->r) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), (double)h->r->oversize);
}

Napi::Value ReaderClose(const Napi::CallbackInfo &info) {
  ReaderHolder *h = Unwrap<ReaderHolder>(info[0]);
  if (h && h->r) {
    if (h->r->inCallback) return ThrowType(info.Env(), "reader closed from inside its batch callback; defer it");
    FreeReader(h);
  }
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------
// Feature probes (libbpf's). Return 1 supported, 0 not, <0 -errno.

Napi::Value ProbeProgType(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  Capture cap;
  return Napi::Number::New(info.Env(),
                           libbpf_probe_bpf_prog_type((enum bpf_prog_type)info[0].As<Napi::Number>().Uint32Value(), nullptr));
}

Napi::Value ProbeMapType(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  Capture cap;
  return Napi::Number::New(info.Env(),
                           libbpf_probe_bpf_map_type((enum bpf_map_type)info[0].As<Napi::Number>().Uint32Value(), nullptr));
}

Napi::Value ProbeHelper(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  Capture cap;
  return Napi::Number::New(info.Env(),
                           libbpf_probe_bpf_helper((enum bpf_prog_type)info[0].As<Napi::Number>().Uint32Value(),
                                                   (enum bpf_func_id)info[1].As<Napi::Number>().Uint32Value(), nullptr));
}

// ---------------------------------------------------------------------------
// BTF access, for code generation: every type of a BTF blob (an object
// file's .BTF, or vmlinux), in the shape of `bpftool btf dump -j`.

const char *KindName(int kind) {
  switch (kind) {
    case BTF_KIND_INT: return "INT";
    case BTF_KIND_PTR: return "PTR";
    case BTF_KIND_ARRAY: return "ARRAY";
    case BTF_KIND_STRUCT: return "STRUCT";
    case BTF_KIND_UNION: return "UNION";
    case BTF_KIND_ENUM: return "ENUM";
    case BTF_KIND_FWD: return "FWD";
    case BTF_KIND_TYPEDEF: return "TYPEDEF";
    case BTF_KIND_VOLATILE: return "VOLATILE";
    case BTF_KIND_CONST: return "CONST";
    case BTF_KIND_RESTRICT: return "RESTRICT";
    case BTF_KIND_FUNC: return "FUNC";
    case BTF_KIND_FUNC_PROTO: return "FUNC_PROTO";
    case BTF_KIND_VAR: return "VAR";
    case BTF_KIND_DATASEC: return "DATASEC";
    case BTF_KIND_FLOAT: return "FLOAT";
    case BTF_KIND_DECL_TAG: return "DECL_TAG";
    case BTF_KIND_TYPE_TAG: return "TYPE_TAG";
    case BTF_KIND_ENUM64: return "ENUM64";
    default: return "UNKNOWN";
  }
}

Napi::Value BtfTypes(Napi::Env env, const struct btf *btf) {
  __u32 n = btf__type_cnt(btf);
  Napi::Array out = Napi::Array::New(env, n);
  out.Set((uint32_t)0, env.Null());
  for (__u32 id = 1; id < n; id++) {
    const struct btf_type *t = btf__type_by_id(btf, id);
    Napi::Object o = Napi::Object::New(env);
    int kind = btf_kind(t);
    o.Set("id", (double)id);
    o.Set("kind", KindName(kind));
    o.Set("name", btf__name_by_offset(btf, t->name_off));
    switch (kind) {
      case BTF_KIND_INT: {
        __u32 enc = *(const __u32 *)(t + 1);
        o.Set("size", (double)t->size);
        o.Set("bits_offset", (double)BTF_INT_OFFSET(enc));
        o.Set("nr_bits", (double)BTF_INT_BITS(enc));
        o.Set("encoding", (BTF_INT_ENCODING(enc) & BTF_INT_SIGNED) ? "SIGNED"
                          : (BTF_INT_ENCODING(enc) & BTF_INT_BOOL) ? "BOOL"
                          : (BTF_INT_ENCODING(enc) & BTF_INT_CHAR) ? "CHAR"
                                                                    : "(none)");
        break;
      }
      case BTF_KIND_FLOAT:
        o.Set("size", (double)t->size);
        break;
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
      case BTF_KIND_FUNC:
      case BTF_KIND_FWD:
        o.Set("type_id", (double)t->type);
        break;
      case BTF_KIND_VAR:
        o.Set("type_id", (double)t->type);
        o.Set("linkage", (double)btf_var(t)->linkage);
        break;
      case BTF_KIND_ARRAY: {
        const struct btf_array *a = btf_array(t);
        o.Set("type_id", (double)a->type);
        o.Set("index_type_id", (double)a->index_type);
        o.Set("nr_elems", (double)a->nelems);
        break;
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        o.Set("size", (double)t->size);
        const struct btf_member *m = btf_members(t);
        __u16 vlen = btf_vlen(t);
        Napi::Array ms = Napi::Array::New(env, vlen);
        for (__u16 i = 0; i < vlen; i++) {
          Napi::Object mo = Napi::Object::New(env);
          mo.Set("name", btf__name_by_offset(btf, m[i].name_off));
          mo.Set("type_id", (double)m[i].type);
          mo.Set("bits_offset", (double)btf_member_bit_offset(t, i));
          mo.Set("bitfield_size", (double)btf_member_bitfield_size(t, i));
          ms.Set(i, mo);
        }
        o.Set("members", ms);
        break;
      }
      case BTF_KIND_ENUM: {
        o.Set("size", (double)t->size);
        const struct btf_enum *e = btf_enum(t);
        __u16 vlen = btf_vlen(t);
        Napi::Array vs = Napi::Array::New(env, vlen);
        for (__u16 i = 0; i < vlen; i++) {
          Napi::Object vo = Napi::Object::New(env);
          vo.Set("name", btf__name_by_offset(btf, e[i].name_off));
          vo.Set("val", (double)e[i].val);
          vs.Set(i, vo);
        }
        o.Set("values", vs);
        break;
      }
      case BTF_KIND_ENUM64: {
        o.Set("size", (double)t->size);
        const struct btf_enum64 *e = btf_enum64(t);
        __u16 vlen = btf_vlen(t);
        Napi::Array vs = Napi::Array::New(env, vlen);
        for (__u16 i = 0; i < vlen; i++) {
          Napi::Object vo = Napi::Object::New(env);
          vo.Set("name", btf__name_by_offset(btf, e[i].name_off));
          vo.Set("val", (double)btf_enum64_value(&e[i]));
          vs.Set(i, vo);
        }
        o.Set("values", vs);
        break;
      }
      case BTF_KIND_DATASEC: {
        o.Set("size", (double)t->size);
        const struct btf_var_secinfo *v = btf_var_secinfos(t);
        __u16 vlen = btf_vlen(t);
        Napi::Array vs = Napi::Array::New(env, vlen);
        for (__u16 i = 0; i < vlen; i++) {
          Napi::Object vo = Napi::Object::New(env);
          vo.Set("type_id", (double)v[i].type);
          vo.Set("offset", (double)v[i].offset);
          vo.Set("size", (double)v[i].size);
          vs.Set(i, vo);
        }
        o.Set("vars", vs);
        break;
      }
      case BTF_KIND_FUNC_PROTO: {
        o.Set("ret_type_id", (double)t->type);
        const struct btf_param *p = btf_params(t);
        __u16 vlen = btf_vlen(t);
        Napi::Array ps = Napi::Array::New(env, vlen);
        for (__u16 i = 0; i < vlen; i++) {
          Napi::Object po = Napi::Object::New(env);
          po.Set("name", btf__name_by_offset(btf, p[i].name_off));
          po.Set("type_id", (double)p[i].type);
          ps.Set(i, po);
        }
        o.Set("params", ps);
        break;
      }
      default:
        break;
    }
    out.Set(id, o);
  }
  return out;
}

// btfParse(path[, base]): the BTF of an ELF object or a raw BTF file; with
// base, BTF split from base's (a kernel module's, split from vmlinux).
Napi::Value BtfParse(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Capture cap;
  struct btf *base = nullptr;
  if (info.Length() > 1 && info[1].IsString()) {
    std::string bpath = info[1].As<Napi::String>().Utf8Value();
    base = btf__parse(bpath.c_str(), nullptr);
    int berr = libbpf_get_error(base);
    if (!base || berr) return ThrowErrnoLog(info.Env(), "btf__parse", berr ? berr : errno, cap.text);
  }
  struct btf *btf = base ? btf__parse_split(path.c_str(), base) : btf__parse(path.c_str(), nullptr);
  int err = libbpf_get_error(btf);
  if (!btf || err) {
    btf__free(base);
    return ThrowErrnoLog(info.Env(), base ? "btf__parse_split" : "btf__parse", err ? err : errno, cap.text);
  }
  Napi::Value v = BtfTypes(info.Env(), btf);
  btf__free(btf);
  btf__free(base);
  return v;
}

// btfFindId(path, name, kind): one id from (possibly huge) BTF without
// materialising every type in JavaScript. Used for vmlinux look-ups.
Napi::Value BtfFindId(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  std::string kind = info[2].As<Napi::String>().Utf8Value();
  struct btf *btf = btf__parse(path.c_str(), nullptr);
  int err = libbpf_get_error(btf);
  if (!btf || err) return ThrowErrno(info.Env(), "btf__parse", err ? err : errno);
  int k = -1;
  for (int i = 0; i <= BTF_KIND_ENUM64; i++)
    if (kind == KindName(i)) k = i;
  int id = btf__find_by_name_kind(btf, name.c_str(), k);
  btf__free(btf);
  return Napi::Number::New(info.Env(), id < 0 ? -1 : id);
}

// objectBtf(obj): the BTF of an opened object (its .BTF section, as libbpf sees it).
Napi::Value ObjectBtf(const Napi::CallbackInfo &info) {
  ObjectHandle *h = GetObject(info, 0);
  if (!h) return info.Env().Undefined();
  struct btf *btf = bpf_object__btf(h->obj);
  if (btf == nullptr) return info.Env().Null();
  return BtfTypes(info.Env(), btf);
}

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
#define EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, fn, name))
  EXPORT("openObject", OpenObject);
  EXPORT("closeObject", CloseObject);
  EXPORT("objectPrograms", ObjectPrograms);
  EXPORT("objectMaps", ObjectMaps);
  EXPORT("programSetAutoload", ProgramSetAutoload);
  EXPORT("programSetAutoattach", ProgramSetAutoattach);
  EXPORT("programSetType", ProgramSetType);
  EXPORT("programSetAttachTarget", ProgramSetAttachTarget);
  EXPORT("programFd", ProgramFd);
  EXPORT("mapFd", MapFd);
  EXPORT("mapSetMaxEntries", MapSetMaxEntries);
  EXPORT("mapInitialValue", MapInitialValue);
  EXPORT("mapSetInitialValue", MapSetInitialValue);
  EXPORT("mapReuseFd", MapReuseFd);
  EXPORT("loadObject", LoadObject);
  EXPORT("attachAuto", AttachAuto);
  EXPORT("attachTracepoint", AttachTracepoint);
  EXPORT("attachRawTracepoint", AttachRawTracepoint);
  EXPORT("attachTrace", AttachTrace);
  EXPORT("attachLsm", AttachLsm);
  EXPORT("attachKprobe", AttachKprobe);
  EXPORT("attachKprobeMulti", AttachKprobeMulti);
  EXPORT("attachUprobe", AttachUprobe);
  EXPORT("attachPerfEvent", AttachPerfEvent);
  EXPORT("attachXdp", AttachXdp);
  EXPORT("attachCgroup", AttachCgroup);
  EXPORT("attachIter", AttachIter);
  EXPORT("xdpAttach", XdpAttach);
  EXPORT("xdpDetach", XdpDetach);
  EXPORT("xdpQueryId", XdpQueryId);
  EXPORT("tcHookCreate", TcHookCreate);
  EXPORT("tcHookDestroy", TcHookDestroy);
  EXPORT("tcAttach", TcAttach);
  EXPORT("tcDetach", TcDetach);
  EXPORT("socketAttachFilter", SocketAttachFilter);
  EXPORT("socketDetachFilter", SocketDetachFilter);
  EXPORT("linkDestroy", LinkDestroy);
  EXPORT("linkDetachKeepEvent", LinkDetachKeepEvent);
  EXPORT("linksDetachKeepEvents", LinksDetachKeepEvents);
  EXPORT("linkFd", LinkFd);
  EXPORT("linkPin", LinkPin);
  EXPORT("linkUnpin", LinkUnpin);
  EXPORT("linkDisconnect", LinkDisconnect);
  EXPORT("iterRead", IterRead);
  EXPORT("perfEventOpen", PerfEventOpen);
  EXPORT("mapLookup", MapLookup);
  EXPORT("mapLookupAndDelete", MapLookupAndDelete);
  EXPORT("mapUpdate", MapUpdate);
  EXPORT("mapDelete", MapDelete);
  EXPORT("mapGetNextKey", MapGetNextKey);
  EXPORT("mapLookupBatch", MapLookupBatch);
  EXPORT("mapUpdateBatch", MapUpdateBatch);
  EXPORT("mapDeleteBatch", MapDeleteBatch);
  EXPORT("mapInfo", MapInfo);
  EXPORT("progInfo", ProgInfo);
  EXPORT("enableStats", EnableStats);
  EXPORT("ringbufPositions", RingbufPositions);
  EXPORT("mapCreate", MapCreate);
  EXPORT("objPin", ObjPin);
  EXPORT("objGet", ObjGet);
  EXPORT("closeFd", CloseFd);
  EXPORT("dupFd", DupFd);
  EXPORT("numPossibleCpus", NumPossibleCpus);
  EXPORT("ringbufOpen", RingbufOpen);
  EXPORT("perfbufOpen", PerfbufOpen);
  EXPORT("readerDrain", ReaderDrain);
  EXPORT("readerOversize", ReaderOversize);
  EXPORT("readerPause", ReaderPause);
  EXPORT("readerSetLimit", ReaderSetLimit);
  EXPORT("readerStoppedEarly", ReaderStoppedEarly);
  EXPORT("readerClose", ReaderClose);
  EXPORT("probeProgType", ProbeProgType);
  EXPORT("probeMapType", ProbeMapType);
  EXPORT("probeHelper", ProbeHelper);
  EXPORT("btfParse", BtfParse);
  EXPORT("btfFindId", BtfFindId);
  EXPORT("objectBtf", ObjectBtf);
  EXPORT("libbpfVersion", LibbpfVersion);
  EXPORT("setDebug", SetDebug);
  EXPORT("ifNameToIndex", IfNameToIndex);
#undef EXPORT
  return exports;
}

}  // namespace

NODE_API_MODULE(vigil_native, Init)
