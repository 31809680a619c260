# Kernel-side and native test-fixture build. Incremental: make rebuilds an
# object only when its source or a header it includes changed.
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
OUT := bpf/.output
VMLINUX := bpf/include/vmlinux.h
BPF_CFLAGS := -target bpf -g -O2 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Wno-unused-function \
	-Ibpf/include -I/usr/include/$(shell uname -m)-linux-gnu
HEADERS := $(wildcard bpf/include/vigil/*.h bpf/include/vigil/*/*.h) $(wildcard bpf/testdata/*.h) $(VMLINUX)

BPF_SRCS := $(wildcard bpf/*.bpf.c) $(wildcard bpf/testdata/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
# Sensors (and path.h's test object) also built with direct loads (vigil/path.h, VIGIL_DIRECT_LOADS) as NAME.direct.bpf.o:
# loaded instead of NAME.bpf.o where the kernel has the bpf_rdonly_cast kfunc (src/sensors/sensor.ts).
DIRECT_OBJS := $(OUT)/file.direct.bpf.o $(OUT)/process.direct.bpf.o $(OUT)/l7.direct.bpf.o $(OUT)/testdata/path.direct.bpf.o
BPF_OBJS += $(DIRECT_OBJS)

# Every object is signed (ed25519, X.bpf.o.sig beside it) and the loader checks
# the signature before loading (docs/ebpf-security.md, "Signed programs").
# SIGNING_KEY (or $$VIGIL_SIGNING_KEY): a packager's PEM ed25519 private key;
# unset, the build makes its own key pair under $(OUT)/signing/.
SIGNING_KEY ?= $(VIGIL_SIGNING_KEY)

FIXTURES := test/.output/uprobe_target test/.output/libvigiltarget.so bench/.output/loadgen
FIXTURES += bench/.output/consumer
FIXTURES += test/.output/fileops
FIXTURES += test/.output/sysloop
FIXTURES += test/.output/spawner test/.output/exit0
FIXTURES += test/.output/pause
FIXTURES += bench/.output/openstorm bench/.output/execstorm

FIXTURES += test/.output/symtarget test/.output/symtarget-nopie test/.output/symtarget_cpp test/.output/libsymlib.so test/.output/libsymlib-stripped.so
FIXTURES += test/.output/profiletarget test/.output/libprofiletarget.so
FIXTURES += bench/.output/cpuwork
FIXTURES += test/.output/falco_scenarios
FIXTURES += bench/.output/udpflood bench/.output/tcpload
FIXTURES += test/.output/policyops
FIXTURES += test/.output/compatops
# (Prerequisites are expanded where a rule is read: add to FIXTURES above this line.)

.PHONY: all bpf fixtures clean
all: bpf fixtures
bpf: $(BPF_OBJS)
	@node scripts/sign-objects.mjs $(if $(SIGNING_KEY),--key '$(SIGNING_KEY)') $(BPF_OBJS)
fixtures: $(FIXTURES)

# vmlinux.h is the running kernel's BTF as C. It is regenerated only when
# missing: CO-RE relocations make one header good for every kernel.
$(VMLINUX):
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp && mv $@.tmp $@

$(OUT)/%.direct.bpf.o: bpf/%.bpf.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -DVIGIL_DIRECT_LOADS -c $< -o $@.tmp && mv $@.tmp $@

test/.output/libvigiltarget.so: test/fixtures/libvigiltarget.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -o $@ $<

test/.output/uprobe_target: test/fixtures/uprobe_target.c test/.output/libvigiltarget.so
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fno-inline -o $@ $< -Ltest/.output -lvigiltarget -Wl,-rpath,'$$ORIGIN'

test/.output/spawner: test/fixtures/spawner.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -o $@ $<

test/.output/pause: test/fixtures/pause.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -static -o $@ $<

test/.output/exit0: test/fixtures/exit0.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -static -nostdlib -o $@ $<

# Static: no dynamic loader adds syscalls before main (test/syscalls.test.ts counts them exactly).
test/.output/sysloop: test/fixtures/sysloop.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -Wall -Werror -static -o $@ $<

test/.output/fileops: test/fixtures/fileops.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Werror -o $@ $<

bench/.output/loadgen: bench/loadgen.c bench/storm.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $<

# The benchmark's libbpf C peer consumer, over a bpftool skeleton of bench.bpf.o.
bench/.output/bench.skel.h: $(OUT)/bench.bpf.o
	@mkdir -p $(dir $@)
	$(BPFTOOL) gen skeleton $< name bench > $@.tmp && mv $@.tmp $@

bench/.output/consumer: bench/consumer.c bench/.output/bench.skel.h bpf/include/vigil/bench.h
	$(CC) -O2 -Wall -Werror -Ibench/.output -Ibpf/include -o $@ $< -lbpf -lelf -lz

# Workloads of the file- and process-tracing benchmarks.
bench/.output/openstorm: bench/openstorm.c bench/storm.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -o $@ $<

bench/.output/execstorm: bench/execstorm.c bench/storm.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -o $@ $<

# Symbolisation test targets: a PIE and a position-dependent executable over a
# shared library, a stripped library (only .dynsym), and a C++ program.
test/.output/libsymlib.so: test/fixtures/libsymlib.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -Wall -Werror -o $@ $<

test/.output/libsymlib-stripped.so: test/fixtures/libsymlib.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -Wall -Werror -DSYMLIB_STRIPPED -Wl,-soname,libsymlib-stripped.so -o $@.tmp $<
	strip --strip-all -o $@ $@.tmp && rm -f $@.tmp

test/.output/symtarget: test/fixtures/symtarget.c test/.output/libsymlib.so
	$(CC) -O1 -g -Wall -Werror -fPIE -pie -o $@ $< -Ltest/.output -lsymlib -ldl -Wl,-rpath,'$$ORIGIN'

test/.output/symtarget-nopie: test/fixtures/symtarget.c test/.output/libsymlib.so
	$(CC) -O1 -g -Wall -Werror -fno-pie -no-pie -o $@ $< -Ltest/.output -lsymlib -ldl -Wl,-rpath,'$$ORIGIN'

test/.output/symtarget_cpp: test/fixtures/symtarget_cpp.cc
	@mkdir -p $(dir $@)
	$(CXX) -O1 -g -Wall -Werror -o $@ $<

# Profiler accuracy fixtures (test/profile.test.ts): frame pointers, known busy functions.
test/.output/libprofiletarget.so: test/fixtures/profilelib.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wall -Werror -o $@ $<

test/.output/profiletarget: test/fixtures/profiletarget.c test/.output/libprofiletarget.so
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wall -Werror -o $@ $< -Ltest/.output -lprofiletarget -Wl,-rpath,'$$ORIGIN'

# The profiler benchmark's CPU-bound workload (bench/profile.ts).
bench/.output/cpuwork: bench/cpuwork.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -fno-omit-frame-pointer -Wall -Werror -pthread -o $@ $<

# The XDP firewall benchmark's bounded UDP flood (bench/xdp.ts).
bench/.output/udpflood: bench/udpflood.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -o $@ $<

# The flow-tracking benchmark's loopback TCP server and load generator (bench/flows.ts).
bench/.output/tcpload: bench/tcpload.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -pthread -o $@ $<

# Falco event-generator actions for the rules scenarios (test/rules-scenarios.test.ts).
test/.output/falco_scenarios: test/fixtures/falco_scenarios.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -Wall -Werror -o $@ $<

# The policy engine tests' syscalls (test/policy-engine*.test.ts).
test/.output/policyops: test/fixtures/policyops.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Werror -o $@ $<

# Tetragon's kernel functions served by portable equivalents (test/policy-compat-hooks.test.ts).
test/.output/compatops: test/fixtures/compatops.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -Werror -o $@ $< -ldl

clean:
	rm -rf $(OUT) test/.output bench/.output
