# VexFS semantic event propagation: the one build file.
#   make            build every program into build/bin/ (parallel by default)
#   make programs   only the daemons and vexfsctl (what the container image holds)
#   make check      install missing packages, build, run every test (Kafka included)
#   make test       run every test on what is built
#   make sanitize   ASan+UBSan build (build/san) and the same tests under it
#   make fuzz       short libFuzzer runs of every decoder of outside input
#   make bench      benchmarks; figures on stdout
#   make lint       cppcheck and clang-tidy
#   make run        start the pipeline locally and show events flowing
#   make kmod       build the kernel module (W=1) and test it in Debian's kernel under qemu
MAKEFLAGS += --no-print-directory
# Parallel by default; a recursive make inherits the jobserver instead (recipes that run a
# script which runs make are marked '+', so the script's make gets the jobserver too).
ifeq ($(MAKELEVEL),0)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc)
endif
endif

# `make` with no target builds everything, whatever rule an included file defines first.
.DEFAULT_GOAL := all

include mk/flags.mk

V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS    += -DVX_VERSION=\"$(VERSION)\"

PROTO     := proto/vexfs/v1/event.proto
GEN_C     := $(BUILD)/gen/vexfs/v1/event.pb-c.c
GEN_H     := $(BUILD)/gen/vexfs/v1/event.pb-c.h

LIB_SRC   := $(wildcard lib/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/event.pb-c.o
LIBVX     := $(BUILD)/lib/libvx.a

# Every folder services/<svc>/ with a main.c is a daemon, built into build/bin/vexfs-<svc>;
# its other objects form build/lib/lib<svc>.a, which its unit tests (tests/<svc>/test_*.c)
# and the benchmarks link against. services/ctl/ is vexfsctl.
SERVICES  := $(filter-out ctl,$(notdir $(patsubst %/main.c,%,$(wildcard services/*/main.c))))
svc_obj    = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c))
svc_core   = $(filter-out $(BUILD)/obj/services/$(1)/main.o,$(call svc_obj,$(1)))
# services/<svc>/DEPS names other services whose libraries it builds on (producers share the
# kernel-record translation of the forwarder, for instance); they are linked after its own.
svc_deps   = $(foreach d,$(strip $(file <services/$(1)/DEPS)),$(BUILD)/lib/lib$(d).a)
SVC_LIBS  := $(SERVICES:%=$(BUILD)/lib/lib%.a)
CTL_SRC   := $(wildcard services/ctl/*.c)
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)

BINS      := $(SERVICES:%=$(BUILD)/bin/vexfs-%) $(BUILD)/bin/vexfsctl

UNIT_SRC  := $(wildcard tests/lib/test_*.c) $(foreach s,$(SERVICES),$(wildcard tests/$(s)/test_*.c))
INTEG_SRC := $(wildcard tests/integration/test_*.c)
TEST_BINS := $(UNIT_SRC:%.c=$(BUILD)/%) $(INTEG_SRC:%.c=$(BUILD)/%)
SUPPORT_O := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
HARNESS_O := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out tests/integration/test_%,$(wildcard tests/integration/*.c)))

# The chaos soak (tests/soak/): one program on the integration tests' harness, run by `make soak`
# and, in its short form, by scripts/check.sh; never by scripts/run-tests.sh.
SOAK_O    := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/soak/*.c))
SOAK_BIN  := $(BUILD)/tests/soak/soak

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BINS:= $(BENCH_SRC:%.c=$(BUILD)/%)

include mk/client.mk

.PHONY: all programs check test sanitize fuzz bench lint run clean deps kmod install uninstall soak soak-short
all: $(BINS) $(TEST_BINS) $(SOAK_BIN) $(BENCH_BINS) $(CLIENT_ALL)

programs: $(BINS)

$(GEN_C) $(GEN_H): $(PROTO)
	@mkdir -p $(BUILD)/gen
	@echo '  PROTOC  $<'
	$(Q)protoc-c --c_out=$(BUILD)/gen -I proto $(PROTO)

$(BUILD)/obj/gen/event.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo '  CC      $@'
	$(Q)$(CC) $(filter-out $(WARN),$(CFLAGS)) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBVX): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

define service_rules
$(BUILD)/lib/lib$(1).a: $(call svc_core,$(1))
	@mkdir -p $$(dir $$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/bin/vexfs-$(1): $(BUILD)/obj/services/$(1)/main.o $(BUILD)/lib/lib$(1).a $(call svc_deps,$(1)) $(LIBVX)
	@mkdir -p $$(dir $$@)
	@echo '  LD      $$@'
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)

$(BUILD)/obj/tests/$(1)/%.o: CFLAGS += -Iservices/$(1)

$(BUILD)/tests/$(1)/%: $(BUILD)/obj/tests/$(1)/%.o $(SUPPORT_O) $(BUILD)/lib/lib$(1).a $(call svc_deps,$(1)) $(LIBVX)
	@mkdir -p $$(dir $$@)
	@echo '  LD      $$@'
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS) $(CHECK_LIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

$(BUILD)/bin/vexfsctl: $(CTL_OBJ) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/lib/%: $(BUILD)/obj/tests/lib/%.o $(SUPPORT_O) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(SUPPORT_O) $(HARNESS_O) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/obj/tests/soak/%.o: CFLAGS += -Itests/integration
$(SOAK_BIN): $(SOAK_O) $(SUPPORT_O) $(HARNESS_O) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/obj/bench/%.o: CFLAGS += $(SERVICES:%=-Iservices/%)
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(SUPPORT_O) $(SVC_LIBS) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps.sh

check:
	+@scripts/check.sh

test: all
	@scripts/run-tests.sh $(BUILD)

sanitize:
	@$(MAKE) SANITIZE=1 all
	@VX_SANITIZE=1 scripts/run-tests.sh build/san

fuzz:
	+@scripts/fuzz.sh

bench: deps
	@$(MAKE) all
	+@scripts/bench.sh $(BUILD)

lint: | $(GEN_H)
	@scripts/lint.sh $(BUILD)

KAFKA ?= 0

RUN_BINS  := $(SERVICES:%=$(BUILD)/bin/vexfs-%) $(BUILD)/bin/vexfsctl

# Only the programs the demo runs; exec, so that Ctrl-C reaches the demo alone and make
# reports no error when it stops cleanly.
run: deps
	@$(MAKE) -s $(RUN_BINS)
	@exec env KAFKA=$(KAFKA) scripts/run-demo.sh $(BUILD)

kmod:
	+@scripts/kmod-test.sh

# The chaos soak (README, "Chaos soak"): SOAK_ARGS passes options (--duration, --rate, ...).
soak: deps
	@$(MAKE) -s $(RUN_BINS) $(SOAK_BIN)
	@scripts/soak.sh $(BUILD) $(SOAK_ARGS)

soak-short: deps
	@$(MAKE) -s $(RUN_BINS) $(SOAK_BIN)
	@scripts/soak.sh $(BUILD) --short $(SOAK_ARGS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
