// SPDX-License-Identifier: Apache-2.0
//
// Maps by fd (so pinned maps and maps of other objects work alike), object
// info, pins and descriptors.

#include "vigil.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace vigil {

// ---------------------------------------------------------------------------
// Maps (by fd, so pinned maps and maps of other objects work alike)

// Name(fd, ...): one call on the map behind the descriptor info[0].
#define FD(i) info[i].As<Napi::Number>().Int32Value()
#define FLAGS(i) (uint64_t)info[i].As<Napi::Number>().Int64Value()
#define ON_MAP_FD(Name, nargs, result, fn, ...)                                \
  Napi::Value Name(const Napi::CallbackInfo &info) {                           \
    CHECK_ARGS(nargs);                                                         \
    return result(info.Env(), #fn, fn(__VA_ARGS__));                           \
  }
// bpf_map_update_elem reports its failure in errno (Done takes either sign).
#define UPDATED(env, op, err) Done(env, op, (err) ? errno : 0)

ON_MAP_FD(MapLookup, 4, Found, bpf_map_lookup_elem_flags, FD(0), BufData(info[1]), BufData(info[2]), FLAGS(3))
ON_MAP_FD(MapLookupAndDelete, 3, Found, bpf_map_lookup_and_delete_elem, FD(0), BufData(info[1]), BufData(info[2]))
ON_MAP_FD(MapUpdate, 4, UPDATED, bpf_map_update_elem, FD(0), BufData(info[1]), BufData(info[2]), FLAGS(3))
ON_MAP_FD(MapDelete, 2, Found, bpf_map_delete_elem, FD(0), BufData(info[1]))
ON_MAP_FD(MapGetNextKey, 3, Found, bpf_map_get_next_key, FD(0), BufData(info[1]), BufData(info[2]))

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

// Name(fd): what bpf_obj_get_info_by_fd says of the map (or program) behind fd, as an object.
#define ON_INFO(Name, InfoType, toObject)                                      \
  Napi::Value Name(const Napi::CallbackInfo &info) {                           \
    CHECK_ARGS(1);                                                             \
    InfoType i;                                                                \
    memset(&i, 0, sizeof(i));                                                  \
    __u32 len = sizeof(i);                                                     \
    if (bpf_obj_get_info_by_fd(FD(0), &i, &len)) return ThrowErrno(info.Env(), "bpf_obj_get_info_by_fd", errno); \
    return toObject;                                                           \
  }
ON_INFO(MapInfo, struct bpf_map_info, MapInfoObject(info.Env(), i))
ON_INFO(ProgInfo, struct bpf_prog_info, ProgInfoObject(info.Env(), i, {}))

// Turns on run-time statistics (run_cnt, run_time_ns) for every program on
// the host while the returned descriptor is open (BPF_ENABLE_STATS): closing
// it, or the process ending, turns them off again, unlike the sysctl.
Napi::Value EnableStats(const Napi::CallbackInfo &info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return ThrowErrno(info.Env(), "bpf_enable_stats", errno);
  return Napi::Number::New(info.Env(), fd);
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

}  // namespace vigil
