# VexFS semantic event propagation: the one build file.
#   make            build every program into build/bin/ (parallel by default)
#   make check      install missing packages, build, run every test (Kafka included)
#   make test       run every test on what is built
#   make sanitize   ASan+UBSan build (build/san) and the same tests under it
#   make fuzz       short libFuzzer runs of every decoder of outside input
#   make bench      benchmarks; figures on stdout
#   make lint       cppcheck and clang-tidy
#   make run        start the pipeline locally and show events flowing
MAKEFLAGS += --no-print-directory
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc)
endif

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

PROP_SRC  := $(wildcard services/propagation/*.c)
PROP_OBJ  := $(PROP_SRC:%.c=$(BUILD)/obj/%.o)
PROP_CORE := $(filter-out $(BUILD)/obj/services/propagation/main.o,$(PROP_OBJ))
CTL_SRC   := $(wildcard services/ctl/*.c)
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)

BINS      := $(BUILD)/bin/vexfs-propagation $(BUILD)/bin/vexfsctl

UNIT_SRC  := $(wildcard tests/lib/test_*.c) $(wildcard tests/propagation/test_*.c)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
HARNESS_O := $(BUILD)/obj/tests/integration/prop_harness.o
TEST_BINS := $(UNIT_SRC:%.c=$(BUILD)/%) $(INTEG_SRC:%.c=$(BUILD)/%)
TEST_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(INTEG_SRC:%.c=$(BUILD)/obj/%.o) \
             $(BUILD)/obj/tests/support/vx_test.o

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BINS:= $(BENCH_SRC:%.c=$(BUILD)/%)

.PHONY: all check test sanitize fuzz bench lint run clean deps kafka-start kafka-stop tests
all: $(BINS) $(TEST_BINS) $(BENCH_BINS)

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

$(BUILD)/bin/vexfs-propagation: $(PROP_OBJ) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/vexfsctl: $(CTL_OBJ) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/lib/%: $(BUILD)/obj/tests/lib/%.o $(BUILD)/obj/tests/support/vx_test.o $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/obj/tests/propagation/%.o: CFLAGS += -Iservices/propagation
$(BUILD)/obj/bench/%.o: CFLAGS += -Iservices/propagation
$(BUILD)/tests/propagation/%: $(BUILD)/obj/tests/propagation/%.o $(BUILD)/obj/tests/support/vx_test.o $(PROP_CORE) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/obj/tests/integration/%.o: CFLAGS += -Itests/support
$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(BUILD)/obj/tests/support/vx_test.o $(BUILD)/obj/tests/integration/prop_harness.o $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/obj/tests/support/vx_test.o $(PROP_CORE) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps.sh

check:
	@scripts/check.sh

test: all
	@scripts/run-tests.sh $(BUILD)

sanitize:
	@$(MAKE) SANITIZE=1 all
	@VX_SANITIZE=1 scripts/run-tests.sh build/san

fuzz:
	@scripts/fuzz.sh

bench: deps
	@$(MAKE) all
	@scripts/bench.sh $(BUILD)

lint: | $(GEN_H)
	@scripts/lint.sh $(BUILD)

run: deps
	@$(MAKE) all
	@scripts/run-demo.sh $(BUILD)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
