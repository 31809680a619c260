// SPDX-License-Identifier: Apache-2.0
//
// Least privilege: this process executed again with fewer capabilities.
//
// Capabilities and the bounding set are per thread, and Node runs threads
// that block every signal (the inspector's), so no capset() from one thread
// can reach them all. An execve() can: the kernel ends every other thread,
// and the new image starts with the calling thread's sets. So the calling
// thread lowers its bounding set, ambient and inheritable sets to `keep`,
// then execs (same pid); a root process's new permitted and effective sets
// are then exactly its bounding set. Which capabilities to keep, and the
// check after, are TypeScript's (src/agent/capabilities.ts).

#include "vigil.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vigil {

// execWithCapabilities(keepLo, keepHi, file, argv[], envp[]): returns only on failure (throws).
Napi::Value ExecWithCapabilities(const Napi::CallbackInfo &info) {
  CHECK_ARGS(5);
  Napi::Env env = info.Env();
  const uint64_t keep = (uint64_t)info[0].As<Napi::Number>().Uint32Value() |
                        ((uint64_t)info[1].As<Napi::Number>().Uint32Value() << 32);
  std::string file = info[2].As<Napi::String>().Utf8Value();
  auto strings = [](Napi::Array a) {
    std::vector<std::string> out;
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    return out;
  };
  std::vector<std::string> args = strings(info[3].As<Napi::Array>());
  std::vector<std::string> envs = strings(info[4].As<Napi::Array>());
  std::vector<char *> argv, envp;
  for (auto &s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto &s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);

  // The bounding set first, while CAP_SETPCAP is still held. Capabilities the kernel does not know
  // (PR_CAPBSET_READ: EINVAL) are skipped.
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return ThrowErrno(env, "prctl(PR_CAPBSET_DROP)", errno);
  }
  // Ambient capabilities outside `keep` (a non-root agent's come from there).
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
    if (r == 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, cap, 0, 0) != 0) {
      return ThrowErrno(env, "prctl(PR_CAP_AMBIENT_LOWER)", errno);
    }
  }
  // The inheritable set: a root exec adds it to the new permitted set.
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return ThrowErrno(env, "capget", errno);
  data[0].inheritable &= (uint32_t)keep;
  data[1].inheritable &= (uint32_t)(keep >> 32);
  if (syscall(SYS_capset, &hdr, data) != 0) return ThrowErrno(env, "capset", errno);
  // Node marks its stdio close-on-exec and non-blocking; the new image gets them as they were
  // handed to this process (else it would find 0-2 closed and open /dev/null in their place).
  for (int fd = 0; fd <= 2; fd++) {
    int fdflags = fcntl(fd, F_GETFD);
    if (fdflags >= 0) fcntl(fd, F_SETFD, fdflags & ~FD_CLOEXEC);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  execve(file.c_str(), argv.data(), envp.data());
  return ThrowErrno(env, "execve", errno);
}

}  // namespace vigil
