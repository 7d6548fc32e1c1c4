# libvexfs, the client library for programs: shared and static library, its examples and tests.
#
# The library is client/*.c (prefix vc_) on top of lib/ (vx_), compiled a second time as
# position-independent code with hidden visibility. Only the vexfs_ functions of
# include/vexfs/client.h are exported: by client/libvexfs.map from the shared library, and from
# the static one by localising every other symbol of one relocatable object, so a program that
# links libvexfs.a never meets the suite's internal names.

CLIENT_SOMAJOR := 1
CLIENT_ABI     := 1.0.0
CLIENT_SRC  := $(wildcard client/*.c)
CLIENT_PIC  := $(CLIENT_SRC:%.c=$(BUILD)/pic/%.o)
LIBVX_PIC_O := $(LIB_SRC:%.c=$(BUILD)/pic/%.o) $(BUILD)/pic/gen/event.pb-c.o
LIBVX_PIC   := $(BUILD)/pic/libvx_pic.a
LIBVEXFS_SO := $(BUILD)/lib/libvexfs.so
LIBVEXFS_A  := $(BUILD)/lib/libvexfs.a
# The packages the library's objects call (the .so records only those it uses: --as-needed).
CLIENT_PKGS := libczmq libzmq libprotobuf-c jansson libcurl yaml-0.1 gnutls libsodium
CLIENT_LIBS := $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -lm
PIC_FLAGS   := -fPIC -fvisibility=hidden -Iinclude

$(BUILD)/pic/gen/event.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	@echo '  CC      $@'
	$(Q)$(CC) $(filter-out $(WARN),$(CFLAGS)) $(PIC_FLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo '  CC      $@ (pic)'
	$(Q)$(CC) $(CFLAGS) $(PIC_FLAGS) -c -o $@ $<

$(LIBVX_PIC): $(LIBVX_PIC_O)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBVEXFS_SO): $(CLIENT_PIC) $(LIBVX_PIC) client/libvexfs.map
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) -shared $(LDFLAGS) -Wl,-soname,libvexfs.so.$(CLIENT_SOMAJOR) \
	    -Wl,--version-script=client/libvexfs.map -Wl,--as-needed -o $@ \
	    $(CLIENT_PIC) $(LIBVX_PIC) $(CLIENT_LIBS)
	$(Q)ln -sf libvexfs.so $@.$(CLIENT_SOMAJOR)

$(LIBVEXFS_A): $(CLIENT_PIC) $(LIBVX_PIC)
	@mkdir -p $(dir $@)
	@echo '  AR      $@'
	$(Q)ld -r -o $(BUILD)/pic/libvexfs_all.o $(CLIENT_PIC) $(LIBVX_PIC)
	$(Q)nm -g --defined-only $(BUILD)/pic/libvexfs_all.o | awk '$$3 ~ /^vexfs_[a-z]/ {print $$3}' \
	    > $(BUILD)/pic/libvexfs.exports
	$(Q)objcopy --keep-global-symbols=$(BUILD)/pic/libvexfs.exports \
	    $(BUILD)/pic/libvexfs_all.o $(BUILD)/pic/libvexfs_public.o
	$(Q)rm -f $@ && ar rcs $@ $(BUILD)/pic/libvexfs_public.o

# Examples: built as a program of a user would be, against the public header only (strict C11)
# and the shared library, found at run time next to them ($ORIGIN/../lib).
EXAMPLE_SRC  := $(wildcard examples/*.c)
EXAMPLE_BINS := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
EXAMPLE_FLAGS := -std=c11 -g $(OPT) $(WARN) -pedantic -Iinclude \
                 $(shell pkg-config --cflags jansson 2>/dev/null)
EXAMPLE_LIBS  := $(shell pkg-config --libs jansson 2>/dev/null)

$(BUILD)/examples/%: examples/%.c examples/example_admin.h include/vexfs/client.h $(LIBVEXFS_SO)
	@mkdir -p $(dir $@)
	@echo '  CC      $@'
	$(Q)$(CC) $(EXAMPLE_FLAGS) -o $@ $< -L$(BUILD)/lib -lvexfs -Wl,-rpath,'$$ORIGIN/../lib' \
	    $(EXAMPLE_LIBS) $(LDSAN)

# The library's own tests (tests/client/): linked with the static library, and with
# propagation's objects where they run a real propagation loop in the process.
$(BUILD)/obj/tests/client/%.o: CFLAGS += -Iinclude -Iservices/propagation -Itests/integration
$(BUILD)/tests/client/%: $(BUILD)/obj/tests/client/%.o $(SUPPORT_O) $(HARNESS_O) $(LIBVEXFS_A) \
                         $(BUILD)/lib/libpropagation.a $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

CLIENT_TEST_BINS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/client/test_*.c))
CLIENT_ALL := $(LIBVEXFS_SO) $(LIBVEXFS_A) $(EXAMPLE_BINS) $(CLIENT_TEST_BINS)

-include $(shell find $(BUILD)/pic -name '*.d' 2>/dev/null)
# Objects named only by pattern rules are intermediates to make: keep them.
.SECONDARY: $(SUPPORT_O) $(HARNESS_O) $(CLIENT_TEST_BINS:$(BUILD)/%=$(BUILD)/obj/%.o)

# ---- make install / make uninstall ------------------------------------------------------------
# PREFIX (default /usr/local) and DESTDIR as usual; the folders below may be set one by one.
PREFIX        ?= /usr/local
BINDIR        ?= $(PREFIX)/bin
LIBDIR        ?= $(PREFIX)/lib
INCLUDEDIR    ?= $(PREFIX)/include
MANDIR        ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
# The packages vexfs.pc names for static linking: those the shared library records.
CLIENT_REQUIRES := libczmq libzmq libprotobuf-c jansson libcurl yaml-0.1 gnutls

# Man pages from each program's --help (scripts/gen-man.sh): section 1 for vexfsctl, 8 for the
# daemons and producers.
MAN_PAGES := $(SERVICES:%=$(BUILD)/man/vexfs-%.8) $(BUILD)/man/vexfsctl.1
$(BUILD)/man/vexfs-%.8: $(BUILD)/bin/vexfs-% scripts/gen-man.sh
	@mkdir -p $(dir $@)
	@echo '  MAN     $@'
	$(Q)scripts/gen-man.sh $< 8 > $@.tmp && mv $@.tmp $@
$(BUILD)/man/vexfsctl.1: $(BUILD)/bin/vexfsctl scripts/gen-man.sh
	@mkdir -p $(dir $@)
	@echo '  MAN     $@'
	$(Q)scripts/gen-man.sh $< 1 > $@.tmp && mv $@.tmp $@

INSTALL_ENV = BUILD=$(BUILD) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) BINDIR=$(BINDIR) \
              LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR) MANDIR=$(MANDIR) \
              COMPLETIONDIR=$(COMPLETIONDIR) VERSION=$(VERSION) SOMAJOR=$(CLIENT_SOMAJOR) \
              ABI=$(CLIENT_ABI) \
              REQUIRES="$(CLIENT_REQUIRES)"

install: $(BINS) $(LIBVEXFS_SO) $(LIBVEXFS_A) $(MAN_PAGES)
	@$(INSTALL_ENV) scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) scripts/install.sh uninstall

# The library's benchmark links the static library (bench/bench_client.c).
$(BUILD)/obj/bench/bench_client.o: CFLAGS += -Iinclude
$(BUILD)/bench/bench_client: $(BUILD)/obj/bench/bench_client.o $(SUPPORT_O) $(LIBVEXFS_A) $(LIBVX)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
