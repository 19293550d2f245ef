# fusebox — see README.md. `make` builds build/libfusebox.so and build/fusebox.
SANITIZE ?=
# A sanitized build lives apart, so it never mixes objects with the plain one.
BUILD    ?= build$(if $(SANITIZE),/sanitize-$(subst $(comma),-,$(SANITIZE)))
PREFIX   ?= /usr/local
CC       ?= cc
comma    := ,

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g -flto=auto
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS)
LDFLAGS  ?=
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

# Rooms by layer (see docs/hacking.md). Each room compiles with the include
# paths of the rooms below it only, so an arrow pointing up does not build.
CORE    := outcome log refusal breaker state rules rules_read pattern jsonpos match fallback
PRELOAD := libc names fdtrack http_recognise tls_recognise request runtime pending hook_connect hook_fallback hook_fd hook_io hook_resolve
CURL    := curl curl_bind curl_fallback curl_guard curl_multi curl_records curl_target
TLS     := tls_bind tls_session tls_openssl tls_gnutls
CLI     := cli cli_breakers cli_run cli_status cli_events cli_metrics cli_force cli_reset \
           cli_check cli_explain cli_serve cli_fsck cli_sync cli_fleet_view fleet state_check
INC_core         := -Ishim/core
INC_preload      := $(INC_core) -Ishim/preload
INC_preload/curl := $(INC_preload) -Ishim/preload/curl
INC_preload/tls  := $(INC_preload) -Ishim/preload/tls
INC_cli          := $(INC_core) -Ishim/cli

obj = $(patsubst %,$(BUILD)/obj/$(1)/%.o,$(2))
SHIM_OBJS := $(call obj,core,$(CORE)) $(call obj,preload,$(PRELOAD)) $(call obj,preload/curl,$(CURL)) \
             $(call obj,preload/tls,$(TLS))
CLI_OBJS  := $(call obj,core,$(CORE)) $(call obj,cli,$(CLI))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.c))

.PHONY: all deps test unit bats demo bench bench-smoke install uninstall clean format
all: $(BUILD)/libfusebox.so $(BUILD)/fusebox

# Rebuild everything when the flags change (e.g. SANITIZE=...).
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@
FORCE:

# $(BUILD)/obj/ROOM/NAME.o from shim/ROOM/NAME.c, with ROOM's include paths.
define room_rule
$$(BUILD)/obj/$(1)/%.o: shim/$(1)/%.c $$(BUILD)/flags
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $$(INC_$(1)) -MMD -MP -c $$< -o $$@
endef
$(foreach room,core preload preload/curl preload/tls cli,$(eval $(call room_rule,$(room))))

$(BUILD)/libfusebox.so: $(SHIM_OBJS) shim/preload/libfusebox.map
	$(CC) -shared -o $@ $(SHIM_OBJS) -Wl,--version-script=shim/preload/libfusebox.map \
	    -Wl,-Bsymbolic -Wl,--as-needed $(LDFLAGS) -pthread

$(BUILD)/fusebox: $(CLI_OBJS)
	$(CC) -o $@ $^ $(LDFLAGS) -lmicrohttpd -lhiredis

# Unit tests see core, the library's pure modules and the fleet logic.
UNIT_OBJS := $(call obj,core,$(CORE)) $(call obj,preload,names fdtrack http_recognise tls_recognise) $(call obj,cli,fleet state_check)
$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/unit.h $(UNIT_OBJS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC_preload) -Ishim/cli -Itests/unit -o $@ $< $(UNIT_OBJS) $(LDFLAGS) -pthread

$(BUILD)/helpers/%: tests/helpers/%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread

# Test helpers that drive libcurl link it; the shim itself never does.
$(BUILD)/helpers/curl_%: tests/helpers/curl_%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread -lcurl

deps:
	@bash scripts/install-deps.sh

# libFuzzer (clang, ASan, UBSan) over the rules parser and the matcher, and
# over the HTTP and TLS recognisers: `make fuzz FUZZ_SECONDS=N` runs both,
# two thirds of N for the rules, a third for the recognisers. New inputs go
# to $(BUILD)/fuzz/corpus*, a crash to $(BUILD)/fuzz/crash-*; tests/fuzz/corpus*
# hold the committed seeds.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS := $(patsubst %,shim/core/%.c,rules rules_read pattern refusal jsonpos match outcome log breaker fallback)
$(BUILD)/fuzz/fuzz_rules: tests/fuzz/fuzz_rules.c $(FUZZ_SRCS) shim/core/*.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(INC_core) -o $@ $< $(FUZZ_SRCS) -ldl -pthread

RECOGNISE_SRCS := shim/preload/http_recognise.c shim/preload/tls_recognise.c
$(BUILD)/fuzz/fuzz_recognise: tests/fuzz/fuzz_recognise.c $(RECOGNISE_SRCS) shim/preload/*_recognise.h
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Ishim/preload -o $@ $< $(RECOGNISE_SRCS)

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_rules $(BUILD)/fuzz/fuzz_recognise
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-recognise
	$(BUILD)/fuzz/fuzz_rules -max_total_time=$$(( $(FUZZ_SECONDS) * 2 / 3 )) -timeout=10 \
	    -max_len=16384 -dict=tests/fuzz/rules.dict -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus
	$(BUILD)/fuzz/fuzz_recognise -max_total_time=$$(( $(FUZZ_SECONDS) - $(FUZZ_SECONDS) * 2 / 3 )) \
	    -timeout=10 -max_len=4096 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus-recognise tests/fuzz/corpus-recognise

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
	clang-format -i $(wildcard shim/*/*.[ch] shim/*/*/*.[ch]) tests/unit/*.c tests/unit/*.h tests/helpers/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d)
