// SPDX-License-Identifier: Apache-2.0
//
// Event buffers: ring and perf buffer readers drained from the libuv loop
// into one batch shared with JavaScript.

#include "vigil.h"

#include <uv.h>

#include <string.h>
#include <unistd.h>

namespace vigil {

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

}  // namespace vigil
