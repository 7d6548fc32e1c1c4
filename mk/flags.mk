# Compiler flags, pkg-config and the build variant (plain or sanitized).

PKGS      := libczmq libzmq libprotobuf-c jansson libmicrohttpd rdkafka yaml-0.1 libcurl libhs libpcre2-8 raft libuv fuse3 gnutls libsodium lmdb libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD     ?= build/san
OPT       := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN     := -fsanitize=address,undefined
else
BUILD     ?= build
OPT       := -O2
LDSAN     :=
endif

CC        ?= cc
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral \
             -Wvla -Wpointer-arith -Wno-format-truncation
CFLAGS    := -std=gnu11 -g $(OPT) $(WARN) -D_GNU_SOURCE -pthread -MMD -MP \
             -Ilib -Itests/support -I$(BUILD)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS   := -pthread $(LDSAN) $(EXTRA_LDFLAGS)
LDLIBS    := $(PKG_LIBS) -lm
