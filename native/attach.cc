// SPDX-License-Identifier: Apache-2.0
//
// Attaching programs, and the links that hold them: tracepoints (through
// Vigil's own perf_event_open), raw and BTF tracepoints, kprobes, uprobes,
// perf events, XDP, TC, cgroups, sockets, iterators; detaching many links at
// once, each on its own thread.

#include "vigil.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vigil {

// ---------------------------------------------------------------------------
// Attach

// The attach calls that return a link: the program in info[0], then
// attach(p) with libbpf's log captured; the link, or the error with the log.
template <typename Attach>
static Napi::Value AttachProgram(const Napi::CallbackInfo &info, const char *op, Attach attach) {
  struct bpf_program *p = GetProgram(info, 0);
  if (!p) return info.Env().Undefined();
  Capture cap;
  return LinkResult(info.Env(), op, attach(p), cap.text);
}

Napi::Value AttachAuto(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  return AttachProgram(info, "bpf_program__attach", bpf_program__attach);
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
  return AttachProgram(info, "bpf_program__attach_raw_tracepoint", [&](struct bpf_program *p) {
    std::string name = info[2].As<Napi::String>().Utf8Value();
    return bpf_program__attach_raw_tracepoint(p, name.c_str());
  });
}

// tp_btf, fentry, fexit, fmod_ret: the target is fixed at load time.
Napi::Value AttachTrace(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  return AttachProgram(info, "bpf_program__attach_trace", bpf_program__attach_trace);
}

Napi::Value AttachLsm(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  return AttachProgram(info, "bpf_program__attach_lsm", bpf_program__attach_lsm);
}

Napi::Value AttachKprobe(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  return AttachProgram(info, "bpf_program__attach_kprobe_opts", [&](struct bpf_program *p) {
    std::string fn = info[2].As<Napi::String>().Utf8Value();
    LIBBPF_OPTS(bpf_kprobe_opts, opts);
    opts.retprobe = info[3].As<Napi::Boolean>().Value();
    opts.offset = info[4].As<Napi::Number>().Int64Value();
    opts.bpf_cookie = CookieArg(info, 5);
    return bpf_program__attach_kprobe_opts(p, fn.c_str(), &opts);
  });
}

Napi::Value AttachKprobeMulti(const Napi::CallbackInfo &info) {
  CHECK_ARGS(4);
  return AttachProgram(info, "bpf_program__attach_kprobe_multi_opts", [&](struct bpf_program *p) {
    std::string pattern = info[2].As<Napi::String>().Utf8Value();
    LIBBPF_OPTS(bpf_kprobe_multi_opts, opts);
    opts.retprobe = info[3].As<Napi::Boolean>().Value();
    return bpf_program__attach_kprobe_multi_opts(p, pattern.c_str(), &opts);
  });
}

Napi::Value AttachUprobe(const Napi::CallbackInfo &info) {
  CHECK_ARGS(7);
  return AttachProgram(info, "bpf_program__attach_uprobe_opts", [&](struct bpf_program *p) {
    pid_t pid = info[3].As<Napi::Number>().Int32Value();
    std::string binary = info[4].As<Napi::String>().Utf8Value();
    std::string fn = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
    size_t off = (size_t)info[6].As<Napi::Number>().Int64Value();
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.retprobe = info[2].As<Napi::Boolean>().Value();
    opts.bpf_cookie = CookieArg(info, 7);
    opts.func_name = fn.empty() ? nullptr : fn.c_str();
    return bpf_program__attach_uprobe_opts(p, pid, binary.c_str(), off, &opts);
  });
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
  return AttachProgram(info, "bpf_program__attach_xdp", [&](struct bpf_program *p) {
    return bpf_program__attach_xdp(p, info[2].As<Napi::Number>().Int32Value());
  });
}

Napi::Value AttachCgroup(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  return AttachProgram(info, "bpf_program__attach_cgroup", [&](struct bpf_program *p) {
    return bpf_program__attach_cgroup(p, info[2].As<Napi::Number>().Int32Value());
  });
}

Napi::Value AttachIter(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  return AttachProgram(info, "bpf_program__attach_iter",
                       [](struct bpf_program *p) { return bpf_program__attach_iter(p, nullptr); });
}

// Legacy (netlink) XDP attach, for an explicit mode: flags carry
// XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE / XDP_FLAGS_UPDATE_IF_NOEXIST.
Napi::Value XdpAttach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(3);
  int err = bpf_xdp_attach(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
                           info[2].As<Napi::Number>().Uint32Value(), nullptr);
  return Done(info.Env(), "bpf_xdp_attach", err);
}

Napi::Value XdpDetach(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  int err = bpf_xdp_detach(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Uint32Value(), nullptr);
  return Done(info.Env(), "bpf_xdp_detach", err);
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
  return Done(info.Env(), "bpf_tc_detach", err);
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
  return Done(info.Env(), "bpf_link__pin", err);
}

Napi::Value LinkUnpin(const Napi::CallbackInfo &info) {
  LinkHandle *l = Unwrap<LinkHandle>(info[0]);
  if (!l || !l->link) return ThrowType(info.Env(), "link is closed");
  int err = bpf_link__unpin(l->link);
  return Done(info.Env(), "bpf_link__unpin", err);
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

}  // namespace vigil
