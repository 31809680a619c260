// SPDX-License-Identifier: Apache-2.0
//
// Kernel introspection: libbpf's feature probes, and every type of a BTF
// blob for code generation.

#include "vigil.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vigil {

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

// Kernel-side verification of signed programs (Linux 6.18: BPF_PROG_LOAD's
// signature, signature_size and keyring_id). libbpf 1.1 and the UAPI headers
// Vigil builds against predate those fields, so this is the bare bpf(2) call:
// a two-instruction socket filter with a junk signature, checked against the
// keyring given (0: the kernel's built-in keys). Returns 0 when the kernel
// loaded it anyway (the program is closed at once), else the errno: E2BIG
// when the kernel does not know the fields (nonzero bytes past its attr),
// EOPNOTSUPP without CONFIG_SYSTEM_DATA_VERIFICATION, EBADMSG when it parsed
// the junk as PKCS#7 and refused it.
Napi::Value ProbeSignedProgLoad(const Napi::CallbackInfo &info) {
  CHECK_ARGS(1);
  // Offsets in union bpf_attr's BPF_PROG_LOAD part as of Linux 6.18.
  constexpr size_t kSignature = 152, kSignatureSize = 160, kKeyringId = 164, kAttrSize = 168;
  static_assert(offsetof(union bpf_attr, insns) == 8 && offsetof(union bpf_attr, license) == 16, "bpf_attr layout");
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  unsigned char junk[16] = {0x30, 0x0e, 0x06, 0x09};  // a DER SEQUENCE that is no PKCS#7 message
  unsigned char attr[kAttrSize] = {};
  union bpf_attr head;
  memset(&head, 0, sizeof(head));
  head.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  head.insn_cnt = 2;
  head.insns = (uintptr_t)insns;
  head.license = (uintptr_t) "GPL";
  memcpy(attr, &head, sizeof(head) < kSignature ? sizeof(head) : kSignature);
  uint64_t sig = (uintptr_t)junk;
  uint32_t sig_size = sizeof(junk);
  int32_t keyring = info[0].As<Napi::Number>().Int32Value();
  memcpy(attr + kSignature, &sig, sizeof(sig));
  memcpy(attr + kSignatureSize, &sig_size, sizeof(sig_size));
  memcpy(attr + kKeyringId, &keyring, sizeof(keyring));
  long fd = syscall(__NR_bpf, BPF_PROG_LOAD, attr, kAttrSize);
  if (fd >= 0) {
    close((int)fd);
    return Napi::Number::New(info.Env(), 0);
  }
  return Napi::Number::New(info.Env(), errno);
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

/** One object per member (vlen entries) of a BTF type, each filled in by fill(i, object). */
template <typename Fill>
Napi::Array VlenArray(Napi::Env env, const struct btf_type *t, Fill fill) {
  __u16 vlen = btf_vlen(t);
  Napi::Array out = Napi::Array::New(env, vlen);
  for (__u16 i = 0; i < vlen; i++) {
    Napi::Object o = Napi::Object::New(env);
    fill(i, o);
    out.Set(i, o);
  }
  return out;
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
        o.Set("members", VlenArray(env, t, [&](__u16 i, Napi::Object mo) {
          mo.Set("name", btf__name_by_offset(btf, m[i].name_off));
          mo.Set("type_id", (double)m[i].type);
          mo.Set("bits_offset", (double)btf_member_bit_offset(t, i));
          mo.Set("bitfield_size", (double)btf_member_bitfield_size(t, i));
        }));
        break;
      }
      case BTF_KIND_ENUM: {
        o.Set("size", (double)t->size);
        const struct btf_enum *e = btf_enum(t);
        o.Set("values", VlenArray(env, t, [&](__u16 i, Napi::Object vo) {
          vo.Set("name", btf__name_by_offset(btf, e[i].name_off));
          vo.Set("val", (double)e[i].val);
        }));
        break;
      }
      case BTF_KIND_ENUM64: {
        o.Set("size", (double)t->size);
        const struct btf_enum64 *e = btf_enum64(t);
        o.Set("values", VlenArray(env, t, [&](__u16 i, Napi::Object vo) {
          vo.Set("name", btf__name_by_offset(btf, e[i].name_off));
          vo.Set("val", (double)btf_enum64_value(&e[i]));
        }));
        break;
      }
      case BTF_KIND_DATASEC: {
        o.Set("size", (double)t->size);
        const struct btf_var_secinfo *v = btf_var_secinfos(t);
        o.Set("vars", VlenArray(env, t, [&](__u16 i, Napi::Object vo) {
          vo.Set("type_id", (double)v[i].type);
          vo.Set("offset", (double)v[i].offset);
          vo.Set("size", (double)v[i].size);
        }));
        break;
      }
      case BTF_KIND_FUNC_PROTO: {
        o.Set("ret_type_id", (double)t->type);
        const struct btf_param *p = btf_params(t);
        o.Set("params", VlenArray(env, t, [&](__u16 i, Napi::Object po) {
          po.Set("name", btf__name_by_offset(btf, p[i].name_off));
          po.Set("type_id", (double)p[i].type);
        }));
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

}  // namespace vigil
