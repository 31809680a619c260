# Kernel-side and native test-fixture build. Incremental: make rebuilds an
# object only when its source or a header it includes changed.
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
OUT := bpf/.output
VMLINUX := bpf/include/vmlinux.h
BPF_CFLAGS := -target bpf -g -O2 -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Wno-unused-function \
	-Ibpf/include -I/usr/include/$(shell uname -m)-linux-gnu
HEADERS := $(wildcard bpf/include/vigil/*.h) $(VMLINUX)

BPF_SRCS := $(wildcard bpf/*.bpf.c) $(wildcard bpf/testdata/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))

FIXTURES := test/.output/uprobe_target test/.output/libvigiltarget.so bench/.output/loadgen
FIXTURES += bench/.output/consumer

.PHONY: all bpf fixtures clean
all: bpf fixtures
bpf: $(BPF_OBJS)
fixtures: $(FIXTURES)

# vmlinux.h is the running kernel's BTF as C. It is regenerated only when
# missing: CO-RE relocations make one header good for every kernel.
$(VMLINUX):
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp && mv $@.tmp $@

test/.output/libvigiltarget.so: test/fixtures/libvigiltarget.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g -o $@ $<

test/.output/uprobe_target: test/fixtures/uprobe_target.c test/.output/libvigiltarget.so
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -fno-inline -o $@ $< -Ltest/.output -lvigiltarget -Wl,-rpath,'$$ORIGIN'

bench/.output/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -o $@ $<

# The benchmark's libbpf C peer consumer, over a bpftool skeleton of bench.bpf.o.
bench/.output/bench.skel.h: $(OUT)/bench.bpf.o
	@mkdir -p $(dir $@)
	$(BPFTOOL) gen skeleton $< name bench > $@.tmp && mv $@.tmp $@

bench/.output/consumer: bench/consumer.c bench/.output/bench.skel.h bpf/include/vigil/bench.h
	$(CC) -O2 -Wall -Werror -Ibench/.output -Ibpf/include -o $@ $< -lbpf -lelf -lz

clean:
	rm -rf $(OUT) test/.output bench/.output
