# pgherd: one non-recursive Makefile.  Objects go to $(BUILD) (build/, or
# build-asan/ for the sanitizer build, build-fuzz/ for the fuzzers), never
# into the source tree.
#
#   make              build pgherd and pgherdctl
#   make setup        install the Debian packages the project needs (idempotent)
#   make check        unit tests, then scenario tests against real servers
#   make check-unit   unit tests only (no servers)
#   make check-asan   the same as check, built with AddressSanitizer + UBSan
#   make fuzz         build the libFuzzer targets with clang and run each briefly
#   make test         setup, then all of the above with one closing line (CI)
#   make demo         setup, build, and run a local cluster (deploy/demo.sh)
#   make chaos        setup, build, and run the full fault-injection loop (as root)
#   make chaos-sync   the same in synchronous mode: node losses and partitions
#   make docs         regenerate docs/configuration.md from the key table
#   make bench        pgherd against Patroni, writes docs/benchmarks.md (not in test)

CC      ?= gcc
BUILD   ?= build
V       ?= 0
Q        = $(if $(filter 1,$(V)),,@)

PKGS     = libevent libpq jansson yaml-0.1 libevent_openssl openssl
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wvla
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) $(SANITIZE_FLAGS) -I. \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lzookeeper_st
LDFLAGS += $(SANITIZE_FLAGS)

ifeq ($(SANITIZE),1)
SANITIZE_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

# Everything but the two main() files goes into one archive that programs
# and tests link against, so tests exercise the code the agent runs.
LIB_SRC    = $(filter-out agent/main.c,$(wildcard agent/*.c)) $(wildcard dcs/*.c) $(wildcard pg/*.c)
CTL_SRC    = $(wildcard ctl/*.c)
UNIT_SRC   = $(wildcard test/unit/test_*.c)
SCEN_SRC   = $(wildcard test/scenario/test_*.c)
# The harness and the scenario helpers link into every scenario binary.
HARN_SRC   = $(wildcard test/harness/*.c) $(filter-out $(SCEN_SRC),$(wildcard test/scenario/*.c))

LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB        = $(BUILD)/libpgherd.a
AGENT      = $(BUILD)/pgherd
CTL        = $(BUILD)/pgherdctl
CTL_LIB    = $(BUILD)/libpgherdctl.a
UNIT_BIN   = $(UNIT_SRC:%.c=$(BUILD)/%)
SCEN_BIN   = $(SCEN_SRC:%.c=$(BUILD)/%)
HARN_OBJ   = $(HARN_SRC:%.c=$(BUILD)/%.o)
# The chaos suite's engine (test/chaos/ but the runner's main) links into the
# runner and into its short version, test/scenario/test_chaos.
CHAOS_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(filter-out test/chaos/chaos.c,$(wildcard test/chaos/*.c)))
CHAOS      = $(BUILD)/test/chaos/chaos

.PHONY: all setup tests-built check check-unit check-scenario check-asan test demo docs \
        fuzz fuzz-built clean chaos chaos-sync
all: $(AGENT) $(CTL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(AGENT): $(BUILD)/agent/main.o $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

# pgherdctl's modules but its main() go into their own archive, so that unit
# tests of its pure parts (test/unit/test_ctl_*) can link them.
$(CTL_LIB): $(filter-out $(BUILD)/ctl/main.o,$(CTL_SRC:%.c=$(BUILD)/%.o))
	$(Q)rm -f $@ && ar rcs $@ $^

$(CTL): $(BUILD)/ctl/main.o $(CTL_LIB) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/test/unit/test_ctl_%: $(BUILD)/test/unit/test_ctl_%.o $(CTL_LIB) $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/test/unit/%: $(BUILD)/test/unit/%.o $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/test/scenario/%: $(BUILD)/test/scenario/%.o $(HARN_OBJ) $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/test/scenario/test_chaos: $(CHAOS_OBJ)

$(CHAOS): $(BUILD)/test/chaos/chaos.o $(CHAOS_OBJ) $(HARN_OBJ) $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

setup:
	$(Q)scripts/setup.sh

tests-built: all $(UNIT_BIN) $(SCEN_BIN)

check: tests-built
	$(Q)test/run.sh $(BUILD)

check-unit: all $(UNIT_BIN)
	$(Q)test/run.sh --only unit $(BUILD)

check-scenario: all $(SCEN_BIN)
	$(Q)test/run.sh --only scenario $(BUILD)

ASAN_MAKE = $(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 CFLAGS="-O1 -g"

check-asan:
	$(Q)$(ASAN_MAKE) check

# Everything, ending in one "N passed, N failed" line: the normal build, the
# sanitizer build, and a short run of every fuzzer.
test: setup
	$(Q)$(MAKE) --no-print-directory tests-built
	$(Q)$(ASAN_MAKE) tests-built
	$(Q)$(MAKE) --no-print-directory fuzz-built
	$(Q)test/run.sh --fuzz $(FUZZ_BUILD) build build-asan

demo: setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)deploy/demo.sh

# The full fault-injection loop (docs/chaos.md), as root; e.g.
# CHAOS_ARGS="--rounds 40 --seed 7".
chaos: setup
	$(Q)$(MAKE) --no-print-directory all $(CHAOS)
	$(Q)$(CHAOS) $(CHAOS_ARGS)

# The loop in synchronous mode (docs/chaos.md, "Synchronous mode"): the node
# losses and partitions, and a frozen primary agent, each once and then at
# random; no acknowledged commit may be lost.  CHAOS_ARGS come last and win
# (e.g. CHAOS_ARGS="--seed 7" or "--strict").
CHAOS_SYNC_LOSS   = kill-primary-node,kill-replica-node,restart-mid-failover
CHAOS_SYNC_CUTS   = partition-primary-zk,partition-replica,partition-zk-leader
CHAOS_SYNC_FAULTS = $(CHAOS_SYNC_LOSS),$(CHAOS_SYNC_CUTS),stop-primary-agent
CHAOS_SYNC_ARGS   = --synchronous --only $(CHAOS_SYNC_FAULTS) --rounds 28
chaos-sync: setup
	$(Q)$(MAKE) --no-print-directory all $(CHAOS)
	$(Q)$(CHAOS) $(CHAOS_SYNC_ARGS) $(CHAOS_ARGS)

# Benchmarks against Patroni (test/bench/bench.c, about 40 minutes): writes
# docs/benchmarks.md.  Not part of check or test.  Try it with
# make bench BENCH_ARGS="--quick --only switchover".
BENCH      = $(BUILD)/bench
BENCH_ARGS ?= --out docs/benchmarks.md
BENCH_OBJ  = $(BUILD)/test/bench/bench.o $(patsubst %.c,$(BUILD)/%.o,$(wildcard test/harness/*.c)) \
             $(BUILD)/test/scenario/http_client.o

$(BENCH): $(BENCH_OBJ) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

.PHONY: bench
bench: all $(BENCH)
	$(Q)$(BENCH) $(BENCH_ARGS)

# The key table in agent/config_keys.c is the single source of the
# configuration reference.
docs: $(AGENT)
	$(Q)$(AGENT) --describe-config > docs/configuration.md

# Fuzzers: clang's libFuzzer with ASan and UBSan over the same library code.
# test/run.sh runs each for FUZZ_SECONDS from its corpus in
# build-fuzz/corpus/<name>; a crash leaves its input in build-fuzz/ and fails.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_BUILD    = build-fuzz
FUZZ_FLAGS    = -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I. \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_SRC      = $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BIN      = $(FUZZ_SRC:test/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ  = $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined $^ $(LIBS) -o $@

fuzz-built: $(FUZZ_BIN)

# Keep the objects the pattern rules chain through: otherwise make deletes
# them as intermediates and rebuilds them every time.
.SECONDARY:

fuzz: fuzz-built
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) test/run.sh --only none --fuzz $(FUZZ_BUILD)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
