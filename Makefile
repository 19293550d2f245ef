# fusebox — see README.md. `make` builds build/libfusebox.so and build/fusebox.
SANITIZE ?=
# A sanitized build lives apart, so it never mixes objects with the plain one.
BUILD    ?= build$(if $(SANITIZE),/sanitize-$(subst $(comma),-,$(SANITIZE)))
PREFIX   ?= /usr/local
CC       ?= cc
comma    := ,

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g -flto=auto
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) -Ishim
LDFLAGS  ?=
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

COMMON := outcome log breaker state rules jsonpos match fallback
SHIM   := $(COMMON) libc names fdtrack runtime hook_connect hook_fallback hook_fd hook_io hook_resolve \
          curl curl_bind curl_fallback curl_guard curl_multi curl_records curl_target
CLI    := $(COMMON) cli cli_breakers cli_run cli_status cli_events cli_metrics cli_force \
          cli_reset cli_check cli_explain cli_serve cli_fsck cli_sync cli_fleet_view fleet

obj = $(patsubst %,$(BUILD)/obj/%.o,$(1))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.c))

.PHONY: all deps test unit bats demo bench bench-smoke install uninstall clean format
all: $(BUILD)/libfusebox.so $(BUILD)/fusebox

# Rebuild everything when the flags change (e.g. SANITIZE=...).
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@
FORCE:

$(BUILD)/obj/%.o: shim/%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libfusebox.so: $(call obj,$(SHIM)) shim/libfusebox.map
	$(CC) -shared -o $@ $(call obj,$(SHIM)) -Wl,--version-script=shim/libfusebox.map \
	    -Wl,-Bsymbolic -Wl,--as-needed $(LDFLAGS) -pthread

$(BUILD)/fusebox: $(call obj,$(CLI))
	$(CC) -o $@ $^ $(LDFLAGS) -lmicrohttpd -lhiredis

UNIT := $(COMMON) names fdtrack fleet
$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/unit.h $(call obj,$(UNIT)) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(call obj,$(UNIT)) $(LDFLAGS) -pthread

$(BUILD)/helpers/%: tests/helpers/%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread

# Test helpers that drive libcurl link it; the shim itself never does.
$(BUILD)/helpers/curl_%: tests/helpers/curl_%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread -lcurl

deps:
	@bash scripts/install-deps.sh

# libFuzzer over the rules parser and the matcher (clang, ASan, UBSan):
# `make fuzz FUZZ_SECONDS=N`. New inputs go to $(BUILD)/fuzz/corpus, a crash
# to $(BUILD)/fuzz/crash-*; tests/fuzz/corpus holds the committed seeds.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := rules jsonpos match outcome log breaker fallback
$(BUILD)/fuzz/fuzz_rules: tests/fuzz/fuzz_rules.c $(patsubst %,shim/%.c,$(FUZZ_SRCS)) shim/*.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Ishim \
	    -o $@ $< $(patsubst %,shim/%.c,$(FUZZ_SRCS)) -ldl -pthread

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_rules
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_rules -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=16384 \
	    -dict=tests/fuzz/rules.dict -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus

# The README's test command: installs what is missing, builds, runs every
# suite (or those named by SUITES: unit, bats, tests/NAME.bats) and ends with
# "N passed, N failed".
SUITES ?= all
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) $(HELPERS)
	@BUILD=$(abspath $(BUILD)) SANITIZE=$(SANITIZE) bash scripts/run-tests.sh $(SUITES)

unit: all $(UNIT_TESTS)
	@BUILD=$(abspath $(BUILD)) SANITIZE=$(SANITIZE) bash scripts/run-tests.sh unit

demo: deps
	@$(MAKE) --no-print-directory all $(HELPERS)
	@BUILD=$(abspath $(BUILD)) bash scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all $(HELPERS)
	@BUILD=$(abspath $(BUILD)) bash scripts/bench.sh

# Checks only that every benchmark program still runs (tiny counts, seconds).
bench-smoke: deps
	@$(MAKE) --no-print-directory all $(HELPERS)
	@BUILD=$(abspath $(BUILD)) bash scripts/bench.sh --smoke

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/fusebox $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(BUILD)/libfusebox.so $(DESTDIR)$(PREFIX)/lib/fusebox/libfusebox.so
	install -m 0755 $(BUILD)/fusebox $(DESTDIR)$(PREFIX)/bin/fusebox
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 scripts/fusebox-completion.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fusebox

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/fusebox/libfusebox.so $(DESTDIR)$(PREFIX)/bin/fusebox \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fusebox
	-rmdir $(DESTDIR)$(PREFIX)/lib/fusebox

format:
	clang-format -i shim/*.c shim/*.h tests/unit/*.c tests/unit/*.h tests/helpers/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*.d)
