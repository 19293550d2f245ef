# fusebox — see README.md. `make` builds build/libfusebox.so and build/fusebox.
SANITIZE ?=
# A sanitized build lives apart, so it never mixes objects with the plain one.
BUILD    ?= build$(if $(SANITIZE),/sanitize-$(subst $(comma),-,$(SANITIZE)))
PREFIX   ?= /usr/local
# The library goes to $(LIBDIR)/fusebox/; fusebox run also looks in
# ../lib/$(MULTIARCH)/fusebox/ beside itself (the Debian package's place).
LIBDIR   ?= $(PREFIX)/lib
MULTIARCH ?= $(shell $(CC) -print-multiarch 2>/dev/null)
# The release: fusebox --version and the Debian package (make deb).
VERSION  := 0.1.0
CC       ?= cc
comma    := ,

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g -flto=auto
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
              -DFUSEBOX_VERSION=\"$(VERSION)\" -DFUSEBOX_MULTIARCH=\"$(MULTIARCH)\"
LDFLAGS  ?=
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

# Rooms by layer (see docs/hacking.md). Each room compiles with the include
# paths of the rooms below it only, so an arrow pointing up does not build.
CORE    := outcome log progname refusal sigbus breaker temp_file state rules rules_read pattern jsonpos match image image_file image_load fallback
PRELOAD := libc names fdtrack http_recognise tls_recognise request setup_wait runtime refused rounds \
           pending hook_connect hook_fallback hook_fd hook_flags hook_io hook_resolve
CURL    := curl curl_bind curl_fallback curl_guard curl_multi curl_proxy_env curl_records curl_setopt curl_target curl_url_scan
TLS     := tls_bind tls_session tls_openssl tls_gnutls
CLI     := cli cli_breakers cli_run cli_status cli_events cli_metrics cli_force cli_reset \
           cli_check cli_explain cli_serve serve_guard cli_dashboard cli_dashboard_json cli_fsck \
           cli_gc cli_reload cli_sync cli_fleet_view cli_dropin cli_status_all fleet state_check
# The dashboard's page, compiled into the command (see dashboard_assets.h).
DASHBOARD_ASSETS := dashboard.html dashboard.css dashboard.js
INC_core         := -Ishim/core
INC_preload      := $(INC_core) -Ishim/preload
INC_preload/curl := $(INC_preload) -Ishim/preload/curl
INC_preload/tls  := $(INC_preload) -Ishim/preload/tls
INC_cli          := $(INC_core) -Ishim/cli
# The fleet agent's parts for Sentinel and for following its rules.
CLI     += fleet_sentinel sync_sentinel sync_rules

obj = $(patsubst %,$(BUILD)/obj/$(1)/%.o,$(2))
SHIM_OBJS := $(call obj,core,$(CORE)) $(call obj,preload,$(PRELOAD)) $(call obj,preload/curl,$(CURL)) \
             $(call obj,preload/tls,$(TLS))
CLI_OBJS  := $(call obj,core,$(CORE)) $(call obj,cli,$(CLI)) $(BUILD)/obj/gen/dashboard_assets.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.c))

.PHONY: all deps test unit bats demo bench bench-smoke install uninstall clean format man deb
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

# The dashboard's files as C arrays: xxd -i, made const.
$(BUILD)/gen/dashboard_assets.c: $(addprefix shim/cli/dashboard/,$(DASHBOARD_ASSETS)) shim/cli/dashboard_assets.h
	@mkdir -p $(@D)
	{ echo '#include "dashboard_assets.h"'; \
	  for f in $(DASHBOARD_ASSETS); do (cd shim/cli/dashboard && xxd -i $$f) || exit 1; done; } | \
	    sed 's/^unsigned/const unsigned/' > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/dashboard_assets.o: $(BUILD)/gen/dashboard_assets.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC_cli) -c $< -o $@

$(BUILD)/libfusebox.so: $(SHIM_OBJS) shim/preload/libfusebox.map
	$(CC) -shared -o $@ $(SHIM_OBJS) -Wl,--version-script=shim/preload/libfusebox.map \
	    -Wl,-Bsymbolic -Wl,--as-needed $(LDFLAGS) -pthread

$(BUILD)/fusebox: $(CLI_OBJS)
	$(CC) -o $@ $^ $(LDFLAGS) -lmicrohttpd -lhiredis

# Unit tests see core, the library's pure modules and the fleet logic.
UNIT_OBJS := $(call obj,core,$(CORE)) $(call obj,preload,names fdtrack http_recognise tls_recognise) \
             $(call obj,cli,fleet fleet_sentinel sync_rules state_check)
$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/unit.h $(UNIT_OBJS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC_preload) -Ishim/cli -Itests/unit -o $@ $< $(UNIT_OBJS) $(LDFLAGS) -pthread

# A module of the libcurl hooks tested alone: test_curl_NAME links
# curl_NAME (their curl.h is headers only).
$(BUILD)/tests/test_curl_%: tests/unit/test_curl_%.c tests/unit/unit.h $(UNIT_OBJS) \
    $(BUILD)/obj/preload/curl/curl_%.o $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC_preload/curl) -Itests/unit -o $@ $< $(BUILD)/obj/preload/curl/curl_$*.o \
	    $(UNIT_OBJS) $(LDFLAGS) -pthread

# The URL scanner's test compares it with libcurl's parser, so it links
# libcurl (and the shim's URL code that calls it); the shim never does.
URL_TEST_OBJS := $(call obj,preload/curl,curl_url_scan curl_target curl_bind)
$(BUILD)/tests/test_url_scan: tests/unit/test_url_scan.c tests/unit/unit.h $(UNIT_OBJS) $(URL_TEST_OBJS) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(INC_preload/curl) -Itests/unit -o $@ $< $(URL_TEST_OBJS) $(UNIT_OBJS) \
	    $(LDFLAGS) -pthread -Wl,--no-as-needed -lcurl -Wl,--as-needed -ldl

$(BUILD)/helpers/%: tests/helpers/%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread

# Test helpers that drive libcurl link it; the shim itself never does.
$(BUILD)/helpers/curl_%: tests/helpers/curl_%.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) -pthread -lcurl

deps:
	@bash scripts/install-deps.sh

# libFuzzer (clang, ASan, UBSan) over the rules parser and the matcher, over
# compiled rules images and the lookups over them, over the URL scanner
# against libcurl's parser (that harness links libcurl), and over the HTTP and
# TLS recognisers: `make fuzz FUZZ_SECONDS=N` gives the rules 3/8 of N, the
# images 1/8 and the other two a quarter each. New inputs go to
# $(BUILD)/fuzz/corpus*, a crash to $(BUILD)/fuzz/crash-*; tests/fuzz/corpus*
# and url_corpus hold the committed seeds.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS := $(patsubst %,shim/core/%.c,rules rules_read pattern refusal jsonpos match image temp_file state sigbus outcome log progname breaker fallback)
$(BUILD)/fuzz/fuzz_rules: tests/fuzz/fuzz_rules.c $(FUZZ_SRCS) shim/core/*.h
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) $(INC_core) -o $@ $< $(FUZZ_SRCS) -ldl -pthread

FUZZ_URL_SRCS := $(patsubst %,shim/preload/curl/%.c,curl_url_scan curl_target curl_bind) shim/core/log.c
$(BUILD)/fuzz/fuzz_url_scan: tests/fuzz/fuzz_url_scan.c $(FUZZ_URL_SRCS) shim/preload/curl/*.h
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) $(INC_preload/curl) -o $@ $< $(FUZZ_URL_SRCS) \
	    -Wl,--no-as-needed -lcurl -Wl,--as-needed -ldl -pthread

$(BUILD)/fuzz/fuzz_image: tests/fuzz/fuzz_image.c $(FUZZ_SRCS) shim/core/*.h
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) $(INC_core) -o $@ $< $(FUZZ_SRCS) -ldl -pthread

RECOGNISE_SRCS := shim/preload/http_recognise.c shim/preload/tls_recognise.c
$(BUILD)/fuzz/fuzz_recognise: tests/fuzz/fuzz_recognise.c $(RECOGNISE_SRCS) shim/preload/*_recognise.h
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -Ishim/preload -o $@ $< $(RECOGNISE_SRCS)

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_rules $(BUILD)/fuzz/fuzz_image $(BUILD)/fuzz/fuzz_url_scan \
    $(BUILD)/fuzz/fuzz_recognise
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-image $(BUILD)/fuzz/url_corpus \
	    $(BUILD)/fuzz/corpus-recognise
	$(BUILD)/fuzz/fuzz_rules -max_total_time=$$(($(FUZZ_SECONDS) * 3 / 8)) -timeout=10 -max_len=16384 \
	    -dict=tests/fuzz/rules.dict -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus
	$(BUILD)/fuzz/fuzz_image -max_total_time=$$(($(FUZZ_SECONDS) / 8)) -timeout=10 -max_len=8192 \
	    -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-image tests/fuzz/corpus-image
	$(BUILD)/fuzz/fuzz_url_scan -max_total_time=$$(($(FUZZ_SECONDS) / 4)) -timeout=10 \
	    -max_len=1024 -dict=tests/fuzz/url.dict -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/url_corpus tests/fuzz/url_corpus
	$(BUILD)/fuzz/fuzz_recognise -max_total_time=$$(($(FUZZ_SECONDS) - $(FUZZ_SECONDS) * 3 / 8 - $(FUZZ_SECONDS) / 8 - $(FUZZ_SECONDS) / 4)) \
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

# The man pages: docs/man/*.md, with sections of README.md and docs/ pulled
# in (scripts/man.py), through pandoc; a page that man or groff warns about
# (as lintian checks it) fails the build.
MAN_PAGES := $(BUILD)/man/fusebox.1 $(BUILD)/man/fusebox-rules.5
$(BUILD)/man/%: docs/man/%.md scripts/man.py README.md docs/install.md Makefile
	@mkdir -p $(@D)
	python3 scripts/man.py $< $(VERSION) > $@.md
	pandoc --standalone --from markdown --to man -o $@.tmp $@.md
	@warnings=$$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $@.tmp 2>&1 >/dev/null); \
	    if [ -n "$$warnings" ]; then echo "$$warnings" >&2; rm -f $@.tmp; exit 1; fi
	@rm $@.md && mv $@.tmp $@
man: $(MAN_PAGES)

# The Debian package, build/deb/fusebox_$(VERSION)_ARCH.deb (scripts/build-deb.sh).
deb: deps
	@VERSION=$(VERSION) bash scripts/build-deb.sh

install: all $(MAN_PAGES)
	install -d $(DESTDIR)$(LIBDIR)/fusebox $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(BUILD)/libfusebox.so $(DESTDIR)$(LIBDIR)/fusebox/libfusebox.so
	install -m 0755 $(BUILD)/fusebox $(DESTDIR)$(PREFIX)/bin/fusebox
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 scripts/fusebox-completion.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fusebox
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	gzip -9n < $(BUILD)/man/fusebox.1 > $(DESTDIR)$(PREFIX)/share/man/man1/fusebox.1.gz
	gzip -9n < $(BUILD)/man/fusebox-rules.5 > $(DESTDIR)$(PREFIX)/share/man/man5/fusebox-rules.5.gz

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/fusebox/libfusebox.so $(DESTDIR)$(PREFIX)/bin/fusebox \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fusebox \
	    $(DESTDIR)$(PREFIX)/share/man/man1/fusebox.1.gz \
	    $(DESTDIR)$(PREFIX)/share/man/man5/fusebox-rules.5.gz
	-rmdir $(DESTDIR)$(LIBDIR)/fusebox

format:
	clang-format -i $(wildcard shim/*/*.[ch] shim/*/*/*.[ch]) tests/unit/*.c tests/unit/*.h tests/helpers/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d)
