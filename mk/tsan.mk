# ThreadSanitizer: the library and the tests that run threads, built with
# -fsanitize=thread (CPU only) in their own folder, then run.
#
#   make test-tsan     (also part of `make check`)
#
# test_threads runs several contexts in several threads at once (each with
# loaders of its own, which have worker threads) and compares them with
# one-at-a-time runs; test_image_folder drives the loader's worker threads
# over files (decoding, restarts and destroys mid-epoch); test_comm's ranks
# (processes, each instrumented) send gradient buckets from the
# communicator's thread while the backward pass runs. test_loader is
# left out: its point there is OpenMP (1 and 2 threads filling a batch).
#
# libgomp and OpenBLAS are not built with ThreadSanitizer: it cannot see
# their synchronisation and reports races in their thread pools that are not
# there. So every context runs its CPU ops on one thread (test_threads sets
# num_threads 1; OMP_NUM_THREADS keeps test_image_folder's context at one,
# OPENBLAS_NUM_THREADS keeps OpenBLAS from starting its pool): what remains
# are the threads of the callers and of the loaders, which are rlkd's and
# must be clean, with no suppressions.

ifeq ($(TSAN),1)
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
ALL_CFLAGS += $(TSAN_FLAGS)
LDLIBS += $(TSAN_FLAGS)
endif

TSAN_BUILD := build/tsan
TSAN_TESTS := $(addprefix $(TSAN_BUILD)/tests/,test_threads test_image_folder test_comm)

.PHONY: test-tsan
test-tsan:
	$(MAKE) BUILD=$(TSAN_BUILD) LIBDIR=$(TSAN_BUILD)/lib TSAN=1 SAN=0 CUDA=0 $(TSAN_TESTS)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	  TSAN_OPTIONS="second_deadlock_stack=1" \
	  tests/run.sh $(TSAN_TESTS)

CHECK_TARGETS += test-tsan
