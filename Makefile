# pgherd: one non-recursive Makefile.  Objects go to $(BUILD) (build/ or, for
# `make check-asan`, build-asan/), never into the source tree.
#
#   make            build pgherd and pgherdctl
#   make setup      install the Debian packages the project needs (idempotent)
#   make check      unit tests, then scenario tests against real servers
#   make check-asan the same, built with AddressSanitizer + UBSan
#   make test       setup, build, check and check-asan: what .ci/run runs
#   make demo       setup, build, and run a local cluster (deploy/demo.sh)

CC      ?= gcc
BUILD   ?= build
V       ?= 0
Q        = $(if $(filter 1,$(V)),,@)

PKGS     = libevent libpq jansson yaml-0.1
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
# and tests link against.
LIB_SRC    = $(filter-out agent/main.c,$(wildcard agent/*.c)) $(wildcard dcs/*.c) $(wildcard pg/*.c)
CTL_SRC    = $(wildcard ctl/*.c)
UNIT_SRC   = $(wildcard test/unit/test_*.c)
SCEN_SRC   = $(wildcard test/scenario/test_*.c)
HARN_SRC   = $(wildcard test/harness/*.c) $(filter-out $(SCEN_SRC),$(wildcard test/scenario/*.c))

LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB        = $(BUILD)/libpgherd.a
AGENT      = $(BUILD)/pgherd
CTL        = $(BUILD)/pgherdctl
UNIT_BIN   = $(UNIT_SRC:%.c=$(BUILD)/%)
SCEN_BIN   = $(SCEN_SRC:%.c=$(BUILD)/%)
HARN_OBJ   = $(HARN_SRC:%.c=$(BUILD)/%.o)

.PHONY: all setup check check-unit check-scenario check-asan test demo clean docs
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

$(CTL): $(CTL_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/test/unit/%: $(BUILD)/test/unit/%.o $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

$(BUILD)/test/scenario/%: $(BUILD)/test/scenario/%.o $(HARN_OBJ) $(LIB)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS) $(shell pkg-config --libs cmocka) -o $@

setup:
	$(Q)scripts/setup.sh

check: all $(UNIT_BIN) $(SCEN_BIN)
	$(Q)test/run.sh $(BUILD)

check-unit: all $(UNIT_BIN)
	$(Q)test/run.sh $(BUILD) unit

check-scenario: all $(SCEN_BIN)
	$(Q)test/run.sh $(BUILD) scenario

check-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 CFLAGS="-O1 -g" check

test: setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory check
	$(Q)$(MAKE) --no-print-directory check-asan

demo: setup
	$(Q)$(MAKE) --no-print-directory all
	$(Q)deploy/demo.sh

# The key table in agent/config_keys.c is the single source of the
# configuration reference.
docs: $(AGENT)
	$(Q)$(AGENT) --describe-config > docs/configuration.md

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
