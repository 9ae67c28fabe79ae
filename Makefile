# s2sd - XMPP server-to-server federation connection manager.
#
#   make            build s2sd and s2sctl into build/
#   make check      install missing packages, build, run every test (plain and
#                   ASan+UBSan builds), check the sample configuration
#   make run        install missing packages, build, run s2sd on etc/ in the foreground
#   make fuzz       build the libFuzzer targets with clang into build-fuzz/
#   make soak       5-minute fault-injection soak (lost/duplicated stanzas)
#   make install    PREFIX (/usr/local) and DESTDIR are honoured
#
# Every .c under the module directories goes into one static library; the
# programs and each tests/check_<name>.c link against it. A new module needs no
# change here. A test that needs extra sources (fakes) names them in
# tests/<name>.mk as EXTRA_check_<name> = tests/fake/....c

BUILD    ?= build
SAN      ?= 0
FUZZ     ?= 0
CC       ?= gcc
PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d

PKGS     := libuv libcares gnutls expat libsasl2 libidn inih libsystemd
MODDIRS  := cm xmpp dns tls s2s router policy
PROGS    := cm/main.c cm/s2sctl.c

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c17 -D_GNU_SOURCE $(WARN) -I. \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(SAN),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all -DS2SD_SANITIZE=1
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
CC       := clang
CFLAGS   += -O1 -fsanitize=fuzzer-no-link,address,undefined \
            -fno-omit-frame-pointer -DS2SD_FUZZ=1
LDFLAGS  += -fsanitize=fuzzer,address,undefined
endif

LIB_SRCS := $(filter-out $(PROGS),$(wildcard $(addsuffix /*.c,$(MODDIRS))))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libs2sd.a
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/check_*.c)
TESTS    := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCHES  := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

-include $(wildcard tests/*.mk)

.SECONDARY:

.PHONY: all tests check check-unit check-asan run fuzz install deps clean bench
.DEFAULT_GOAL := all

all: $(BUILD)/s2sd $(BUILD)/s2sctl

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The programs' default config path follows SYSCONFDIR: rebuild on change.
SYSCONF_STAMP := $(BUILD)/sysconfdir-$(subst /,_,$(SYSCONFDIR)).stamp
$(SYSCONF_STAMP):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/sysconfdir-*.stamp && touch $@
$(BUILD)/obj/cm/main.o $(BUILD)/obj/cm/s2sctl.o: $(SYSCONF_STAMP)
$(BUILD)/obj/cm/main.o $(BUILD)/obj/cm/s2sctl.o: CFLAGS += \
	-DS2SD_CONFIG_DEFAULT='"$(SYSCONFDIR)/s2sd/s2sd.conf"'

$(BUILD)/s2sd: $(BUILD)/obj/cm/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/s2sctl: $(BUILD)/obj/cm/s2sctl.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(TESTS)

.SECONDEXPANSION:
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o \
		$$(foreach f,$$(EXTRA_$$*),$(BUILD)/obj/$$(basename $$f).o) \
		$(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# The load tool (bench/load*.c): relay and fan-in against s2sd, Prosody and
# ejabberd, driven by bench/run.py.
LOAD_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard bench/load*.c))
$(BUILD)/bench/load: $(LOAD_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Benchmarks: every bench/bench_<name> program, then the load comparison
# (bench/run.py; installs Prosody and ejabberd like make interop).
bench: deps all $(BENCHES) $(BUILD)/bench/load
	@sh scripts/deps.sh scripts/packages-interop.txt
	sh scripts/run-bench.sh $(BUILD)

deps:
	@sh scripts/deps.sh scripts/packages.txt

# Federation with real Prosody and ejabberd peers (tests/interop/).
.PHONY: interop
interop: deps all
	@sh scripts/deps.sh scripts/packages-interop.txt
	sh tests/interop/run.sh $(BUILD)

# Fault-injection soak (tests/integration/test_soak), 5 minutes by default:
# prints "soak: sent N delivered N bounced N lost N duplicates N", fails on
# loss. SOAK_SECONDS, SOAK_SEED, SOAK_FAULTS (e.g. term,kill9,dns,blackhole,
# garbage), SOAK_RATE pass through.
.PHONY: soak
soak: deps all
	S2SD=$(CURDIR)/$(BUILD)/s2sd S2SCTL=$(CURDIR)/$(BUILD)/s2sctl \
	S2SD_SRC=$(CURDIR) S2SD_BUILD=$(CURDIR)/$(BUILD) \
	SOAK_SECONDS=$${SOAK_SECONDS:-300} tests/integration/test_soak

# The unit and integration tests run twice: optimised, then under ASan+UBSan.
check: deps
	$(MAKE) check-unit
	$(MAKE) check-asan
	./build/s2sd -n -c etc/s2sd.conf
	$(MAKE) interop
	@echo "check: all passed"

check-unit: all tests
	sh scripts/run-tests.sh $(BUILD)

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 all tests
	sh scripts/run-tests.sh build-asan

run: deps all
	sh scripts/run-sample.sh $(BUILD)

# The README's walkthrough: two federating nodes and a prompt.
.PHONY: demo
demo: deps all
	S2SD=$(BUILD)/s2sd S2SCTL=$(BUILD)/s2sctl python3 scripts/demo.py

fuzz:
	@sh scripts/deps.sh scripts/packages-fuzz.txt
	$(MAKE) BUILD=build-fuzz FUZZ=1 fuzzers

.PHONY: fuzzers
fuzzers: $(FUZZERS)

# Configuration files (samples, logrotate) are never overwritten: they may
# have been edited. The unit is, with its paths set to this installation's;
# local changes to it belong in a drop-in.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/s2sd \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(LOGROTATEDIR)
	install -m 755 $(BUILD)/s2sd $(BUILD)/s2sctl $(DESTDIR)$(SBINDIR)/
	for f in etc/s2sd.conf etc/policy etc/directory; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/s2sd/$${f#etc/} ] || \
		install -m 644 $$f $(DESTDIR)$(SYSCONFDIR)/s2sd/; done
	[ -e $(DESTDIR)$(LOGROTATEDIR)/s2sd ] || \
		install -m 644 etc/s2sd.logrotate $(DESTDIR)$(LOGROTATEDIR)/s2sd
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|/usr/sbin/s2sd|$(SBINDIR)/s2sd|g' \
		-e 's|/etc/s2sd/|$(SYSCONFDIR)/s2sd/|g' etc/s2sd.service \
		>$(DESTDIR)$(UNITDIR)/s2sd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/s2sd.service
	install -m 644 etc/s2sd.sysusers $(DESTDIR)$(SYSUSERSDIR)/s2sd.conf

clean:
	rm -rf build build-asan build-fuzz

# Header dependencies of every object built so far (library, programs,
# tests, benches, fuzzers).
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
