# Fuzzing (tests/fuzz): a libFuzzer target for every parser of file input,
# built with clang, AddressSanitizer and UndefinedBehaviorSanitizer in
# build/fuzz. Their seeds (tests/fuzz/corpus/) and every crash fuzzing
# found (tests/fuzz/regressions/) replay in `make test` and
# `make test-sanitize` through the normal build.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="idx cifar"]
#                   runs each target for FUZZ_SECONDS over a copy of its
#                   seeds, FUZZ_JOBS (2) at a time; fails on any crash, leak,
#                   timeout or oversized allocation, leaving the input in
#                   build/fuzz/crashes/<target>/; summary in build/fuzz/summary.md
#   make fuzz-seeds rewrites tests/fuzz/corpus/ (committed) with make_seeds

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_BUILD := build/fuzz
FUZZ_CC ?= clang
# The targets that read the rlkd command's files link these of its sources
# (not main.c), compiled so that the command's exit() returns to the target.
FUZZ_CLI_NAMES := config plot
FUZZ_CLI_SRC := cli/flags.c cli/session.c cli/report.c cli/plot.c cli/charts.c
FUZZ_INCLUDES := -Itests/fuzz -Ilib -Icli
FUZZ_NAME_DEFINES = -DFUZZ_NAME='"$*"' -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"'

# ---- the replays and the seed writer, in the normal build ----

FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_REPLAY_CLI_OBJ := $(FUZZ_CLI_SRC:cli/%.c=$(BUILD)/tests/fuzz/cli/%.o)
EXTRA_TEST_BIN += $(FUZZ_REPLAY)

$(BUILD)/tests/fuzz/cli/%.o: cli/%.c $(wildcard cli/*.h) include/rlkd.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Dexit=fuzz_cli_exit -c $< -o $@

$(FUZZ_CLI_NAMES:%=$(BUILD)/tests/fuzz/replay_%): $(FUZZ_REPLAY_CLI_OBJ)

$(BUILD)/tests/fuzz/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c \
    tests/fuzz/fuzz.c tests/fuzz/fuzz.h $(wildcard lib/*/*.h cli/*.h) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(FUZZ_INCLUDES) $(FUZZ_NAME_DEFINES) -o $@ \
	  $(filter %.c %.o,$^) $(STATIC) $(LDLIBS)

$(BUILD)/tests/fuzz/make_seeds: tests/fuzz/make_seeds.c tests/fuzz/fuzz.c \
    tests/fuzz/fuzz.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(FUZZ_INCLUDES) -o $@ $(filter %.c,$^) $(STATIC) \
	  $(LDLIBS)

.PHONY: fuzz fuzz-seeds
fuzz-seeds: $(BUILD)/tests/fuzz/make_seeds
	rm -rf tests/fuzz/corpus
	$< tests/fuzz/corpus

# ---- the fuzz targets: the library, the targets and the command's files
# by clang with the sanitizers and libFuzzer's coverage ----

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
# -O1 does not vectorise, which clang reports of every "omp simd" loop.
FUZZ_CFLAGS := -std=c11 -O1 -g $(WARN) -Wno-pass-failed -fopenmp -Iinclude \
               -D_POSIX_C_SOURCE=200809L $(FUZZ_SAN) -fsanitize=fuzzer-no-link
# A CPU build: every C source of the library's folders, the stand-ins for
# CUDA and NCCL included, and the libraries less the CUDA ones.
FUZZ_LDLIBS := $(filter-out $(SAN_FLAGS) -L% -lcudart -lnccl -lstdc++,$(LDLIBS))
FUZZ_LIB_SRC := $(wildcard $(addsuffix *.c,$(sort $(dir $(LIB_SRC)))))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB := $(FUZZ_BUILD)/librlkd_fuzz.a
FUZZ_CLI_OBJ := $(FUZZ_CLI_SRC:cli/%.c=$(FUZZ_BUILD)/cli/%.o)

$(FUZZ_BUILD)/lib/%.o: lib/%.c include/rlkd.h $(wildcard lib/*/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) include/rlkd.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Dexit=fuzz_cli_exit -c $< -o $@

$(FUZZ_BUILD)/tests/%.o: tests/fuzz/%.c tests/fuzz/fuzz.h include/rlkd.h \
    $(wildcard lib/*/*.h cli/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_INCLUDES) -c $< -o $@

# Kept between runs (make would delete them as intermediate files).
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz_%.o) $(FUZZ_BUILD)/tests/fuzz.o

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_CLI_NAMES:%=$(FUZZ_BUILD)/fuzz_%): $(FUZZ_CLI_OBJ)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz_%.o $(FUZZ_BUILD)/tests/fuzz.o \
    $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) \
	  $(FUZZ_LIB) $(FUZZ_LDLIBS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	OMP_NUM_THREADS=1 tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) \
	  $(FUZZ_JOBS) $(FUZZ_TARGETS)

CHECK_TARGETS += fuzz
