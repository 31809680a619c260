// SPDX-License-Identifier: Apache-2.0
//
// The host's BPF objects (`vigil bpf ls`): every program, map and link by
// id, whoever loaded it, with what the kernel says of it. Ids come from
// BPF_*_GET_NEXT_ID; each object is opened by id, described with
// BPF_OBJ_GET_INFO_BY_FD and closed again. An object that went away between
// the listing and the opening is null, not an error.
#include "vigil.h"

#include <unistd.h>

namespace vigil {

namespace {

using NextId = int (*)(__u32, __u32 *);
using FdById = int (*)(__u32);

NextId nextIdOf(int kind) {
  return kind == 0 ? bpf_prog_get_next_id : kind == 1 ? bpf_map_get_next_id : bpf_link_get_next_id;
}

FdById fdByIdOf(int kind) {
  return kind == 0 ? bpf_prog_get_fd_by_id : kind == 1 ? bpf_map_get_fd_by_id : bpf_link_get_fd_by_id;
}

std::string Hex(const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

/** What every object's info starts with: its id, its type (number and libbpf's name) and its name. */
Napi::Object Described(Napi::Env env, __u32 id, __u32 type, const char *typeName, const char *name) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", (double)id);
  o.Set("type", (double)type);
  o.Set("typeName", typeName ? typeName : "unknown");
  if (name) o.Set("name", name);
  return o;
}

Napi::Value InfoFailed(Napi::Env env, int fd) {
  int e = errno;
  close(fd);
  return ThrowErrno(env, "bpf_obj_get_info_by_fd", e);
}

}  // namespace

Napi::Object ProgInfoObject(Napi::Env env, const struct bpf_prog_info &pi, const std::vector<__u32> &maps) {
  Napi::Object o = Described(env, pi.id, pi.type, libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type), pi.name);
  o.Set("tag", Hex(pi.tag, sizeof(pi.tag)));
  o.Set("loadTimeNs", (double)pi.load_time);
  o.Set("uid", (double)pi.created_by_uid);
  o.Set("verifiedInsns", (double)pi.verified_insns);
  o.Set("xlatedLen", (double)pi.xlated_prog_len);
  o.Set("jitedLen", (double)pi.jited_prog_len);
  o.Set("runCount", (double)pi.run_cnt);
  o.Set("runTimeNs", (double)pi.run_time_ns);
  o.Set("btfId", (double)pi.btf_id);
  Napi::Array m = Napi::Array::New(env, maps.size());
  for (size_t i = 0; i < maps.size(); i++) m.Set(i, (double)maps[i]);
  o.Set("mapIds", m);
  return o;
}

Napi::Object MapInfoObject(Napi::Env env, const struct bpf_map_info &mi) {
  Napi::Object o = Described(env, mi.id, mi.type, libbpf_bpf_map_type_str((enum bpf_map_type)mi.type), mi.name);
  o.Set("keySize", (double)mi.key_size);
  o.Set("valueSize", (double)mi.value_size);
  o.Set("maxEntries", (double)mi.max_entries);
  o.Set("flags", (double)mi.map_flags);
  return o;
}

// bpfIds(kind): the ids of every program (0), map (1) or link (2) on the host.
Napi::Value BpfIds(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  int kind = info[0].As<Napi::Number>().Int32Value();
  if (kind < 0 || kind > 2) return ThrowType(info.Env(), "bpfIds: kind is 0 (programs), 1 (maps) or 2 (links)");
  std::vector<__u32> ids;
  __u32 id = 0;
  for (;;) {
    if (nextIdOf(kind)(id, &id)) {
      if (errno == ENOENT) break;
      return ThrowErrno(info.Env(), "bpf_*_get_next_id", errno);
    }
    ids.push_back(id);
  }
  Napi::Array out = Napi::Array::New(info.Env(), ids.size());
  for (size_t i = 0; i < ids.size(); i++) out.Set(i, (double)ids[i]);
  return out;
}

// bpfTypeName(kind, value): libbpf's name of a program type (0), attach type (1) or link type (2);
// null for a value this libbpf does not know.
Napi::Value BpfTypeName(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  int kind = info[0].As<Napi::Number>().Int32Value();
  int value = info[1].As<Napi::Number>().Int32Value();
  if (kind < 0 || kind > 2) return ThrowType(info.Env(), "bpfTypeName: kind is 0 (program), 1 (attach) or 2 (link)");
  const char *name = kind == 0 ? libbpf_bpf_prog_type_str((enum bpf_prog_type)value)
    : kind == 1 ? libbpf_bpf_attach_type_str((enum bpf_attach_type)value)
    : libbpf_bpf_link_type_str((enum bpf_link_type)value);
  if (!name) return info.Env().Null();
  return Napi::String::New(info.Env(), name);
}

// bpfObjectInfo(kind, id): what the kernel says of the object, or null when it is gone.
Napi::Value BpfObjectInfo(const Napi::CallbackInfo &info) {
  CHECK_ARGS(2);
  Napi::Env env = info.Env();
  int kind = info[0].As<Napi::Number>().Int32Value();
  __u32 id = info[1].As<Napi::Number>().Uint32Value();
  if (kind < 0 || kind > 2) return ThrowType(env, "bpfObjectInfo: kind is 0 (programs), 1 (maps) or 2 (links)");
  int fd = fdByIdOf(kind)(id);
  if (fd < 0) {
    if (errno == ENOENT) return env.Null();
    return ThrowErrno(env, "bpf_*_get_fd_by_id", errno);
  }
  Napi::Value result;
  if (kind == 0) {
    struct bpf_prog_info pi;
    memset(&pi, 0, sizeof(pi));
    __u32 len = sizeof(pi);
    int err = bpf_obj_get_info_by_fd(fd, &pi, &len);
    std::vector<__u32> maps;
    if (!err && pi.nr_map_ids) {
      // Again, with room for the map ids.
      __u32 n = pi.nr_map_ids;
      maps.resize(n);
      memset(&pi, 0, sizeof(pi));
      pi.nr_map_ids = n;
      pi.map_ids = (__u64)(unsigned long)maps.data();
      len = sizeof(pi);
      err = bpf_obj_get_info_by_fd(fd, &pi, &len);
      if (!err) maps.resize(pi.nr_map_ids < n ? pi.nr_map_ids : n);
    }
    if (err) return InfoFailed(env, fd);
    result = ProgInfoObject(env, pi, maps);
  } else if (kind == 1) {
    struct bpf_map_info mi;
    memset(&mi, 0, sizeof(mi));
    __u32 len = sizeof(mi);
    if (bpf_obj_get_info_by_fd(fd, &mi, &len)) return InfoFailed(env, fd);
    result = MapInfoObject(env, mi);
  } else {
    struct bpf_link_info li;
    char name[256] = {0};
    memset(&li, 0, sizeof(li));
    __u32 len = sizeof(li);
    int err = bpf_obj_get_info_by_fd(fd, &li, &len);
    if (!err && li.type == BPF_LINK_TYPE_RAW_TRACEPOINT) {
      // The tracepoint's name comes in a buffer of ours.
      memset(&li, 0, sizeof(li));
      li.raw_tracepoint.tp_name = (__u64)(unsigned long)name;
      li.raw_tracepoint.tp_name_len = sizeof(name) - 1;
      len = sizeof(li);
      err = bpf_obj_get_info_by_fd(fd, &li, &len);
    }
    if (err) return InfoFailed(env, fd);
    Napi::Object o = Described(env, li.id, li.type, libbpf_bpf_link_type_str((enum bpf_link_type)li.type), nullptr);
    o.Set("progId", (double)li.prog_id);
    switch (li.type) {
      case BPF_LINK_TYPE_RAW_TRACEPOINT:
        o.Set("target", name);
        break;
      case BPF_LINK_TYPE_TRACING: {
        const char *at = libbpf_bpf_attach_type_str((enum bpf_attach_type)li.tracing.attach_type);
        o.Set("attachType", at ? at : "unknown");
        o.Set("targetBtfObjId", (double)li.tracing.target_obj_id);
        o.Set("targetBtfId", (double)li.tracing.target_btf_id);
        break;
      }
      case BPF_LINK_TYPE_CGROUP: {
        const char *at = libbpf_bpf_attach_type_str((enum bpf_attach_type)li.cgroup.attach_type);
        o.Set("attachType", at ? at : "unknown");
        o.Set("cgroupId", (double)li.cgroup.cgroup_id);
        break;
      }
      case BPF_LINK_TYPE_NETNS: {
        const char *at = libbpf_bpf_attach_type_str((enum bpf_attach_type)li.netns.attach_type);
        o.Set("attachType", at ? at : "unknown");
        o.Set("netnsIno", (double)li.netns.netns_ino);
        break;
      }
      case BPF_LINK_TYPE_XDP:
        o.Set("ifindex", (double)li.xdp.ifindex);
        break;
      default:
        break;
    }
    result = o;
  }
  close(fd);
  return result;
}

}  // namespace vigil
