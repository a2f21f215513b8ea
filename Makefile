# rlkd - one build for all: the CPU backend always, the CUDA backend when
# nvcc is found (CUDA=0 forces it off, CUDA=1 insists on it).
#
# With CUDA, the loader's GPU decoding (decode_device RLKD_DEVICE_CUDA) is
# built when nvJPEG is found (NVJPEG=0 forces it off, NVJPEG=1 insists): in
# the CUDA toolkit, or at NVJPEG_HOME (include/nvjpeg.h, lib64/ or
# lib/libnvjpeg.so). Toolkits that leave it out take NVIDIA's PyPI wheel of
# their CUDA version (here CUDA 13.0):
#   pip download --no-deps -d build/wheels 'nvidia-nvjpeg==13.0.*'
#   scripts/unpack-nvjpeg.sh build/wheels/nvidia_nvjpeg-*.whl /opt/nvjpeg
#   make NVJPEG_HOME=/opt/nvjpeg
#
# With CUDA, the cuDNN/cuBLAS engines (RLKD_ENGINE_CUDNN, chosen per context
# or by RLKD_CONV_ENGINE=cudnn) are built when cuDNN and cuBLAS are found
# (ENGINES=0 forces them off, ENGINES=1 insists): in the toolkit, under /usr,
# or at CUDNN_HOME / CUBLAS_HOME, e.g. the cuDNN of PyTorch's wheel:
#   make CUDNN_HOME=$(python3 -c 'import nvidia.cudnn as m; print(m.__path__[0])')
#
#   make                    libraries in lib/, the rlkd command in build/bin/rlkd
#   make demo               the main job: teacher, student, KD, AMC/uniform/rlkd at 40% FLOPs,
#                           table and plots in build/demo (scripts/demo.sh; ~15 min on 2 cores)
#   make test               build and run every test this machine can run
#   make test-sanitize      the same suite under ASan+UBSan (CPU build)
#   make test-valgrind      the unit tests under valgrind's memcheck
#   make test-tsan          the multi-threaded tests under ThreadSanitizer (mk/tsan.mk)
#   make fuzz               every file parser under libFuzzer, FUZZ_SECONDS each (mk/fuzz.mk)
#   make check              test, test-sanitize, test-valgrind, test-tsan and fuzz: what CI runs
#   make bench-cpu          rlkd's CPU backend against PyTorch; writes docs/benchmarks.md
#   make bench-compact      compacted networks' inference time against their MACs
#   make bench-python       the Python bindings' overhead; writes docs/python.md
#   make bench-data         the image-folder loader against torchvision's DataLoader (docs/benchmarks.md)
#   make install PREFIX=/usr/local [DESTDIR=...]   header, libraries, rlkd.pc, CMake package
#   make docs               the API reference from include/rlkd.h (Doxygen): build/docs/api/html
#   make python [PYTHON=.venv/bin/python]   the Python package, with the library in it
#   make clean

VERSION_MAJOR := $(shell sed -n 's/^\#define RLKD_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rlkd.h)
VERSION_MINOR := $(shell sed -n 's/^\#define RLKD_VERSION_MINOR \([0-9]*\).*/\1/p' include/rlkd.h)
VERSION_PATCH := $(shell sed -n 's/^\#define RLKD_VERSION_PATCH \([0-9]*\).*/\1/p' include/rlkd.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
LIBDIR ?= lib
SAN ?= 0

CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc; })
ifeq ($(origin CUDA),undefined)
CUDA := $(if $(NVCC),1,0)
endif
NVJPEG_HOME ?= $(if $(wildcard $(CUDA_HOME)/include/nvjpeg.h),$(CUDA_HOME))
NVJPEG_LIBDIR := $(patsubst %/,%,$(dir $(firstword $(wildcard \
    $(NVJPEG_HOME)/lib64/libnvjpeg.so $(NVJPEG_HOME)/lib/libnvjpeg.so))))
NVJPEG_FOUND := $(and $(NVJPEG_HOME),$(wildcard $(NVJPEG_HOME)/include/nvjpeg.h),$(NVJPEG_LIBDIR))
ifeq ($(origin NVJPEG),undefined)
NVJPEG := $(if $(and $(filter 1,$(CUDA)),$(NVJPEG_FOUND)),1,0)
endif
# NCCL, the communicators' GPU backend (lib/comm, kernels/nccl.cu): with
# CUDA, built when nccl.h is found (in the toolkit, under /usr or at
# NCCL_HOME); NCCL=0 forces it off. Without it a communicator asked for
# NCCL answers RLKD_ERR_UNSUPPORTED, and the CPU backend works everywhere.
NCCL_HOME ?= $(firstword $(foreach d,$(CUDA_HOME) /usr,$(if $(wildcard $(d)/include/nccl.h),$(d))))
ifeq ($(origin NCCL),undefined)
NCCL := $(if $(and $(filter 1,$(CUDA)),$(NCCL_HOME)),1,0)
endif
# The cuDNN and cuBLAS engines (rlkd_context_set_engine; kernels/engines.cu,
# conv2d_cudnn.cu, linear_cublas.cu): with CUDA, built when both libraries
# are found, each in the toolkit or under /usr, or at CUDNN_HOME /
# CUBLAS_HOME (include/, and the library in lib64/ or lib/, versioned names
# such as a wheel's libcudnn.so.9 included); ENGINES=0 forces them off,
# ENGINES=1 insists. Without them RLKD_ENGINE_CUDNN answers
# RLKD_ERR_UNSUPPORTED (lib/core/engines_absent.c). The libraries are needed
# at build time for their headers; at run time they are opened on first use
# (kernels/engine_libraries.cu), so a program that never picks the engine
# runs where they are not installed.
# $(call find_library,HOME,NAME): libNAME.so under HOME's lib64/, lib/ or
# lib/<multiarch>/, else a versioned libNAME.so.N there (all a wheel has).
library_dirs = $(1)/lib64 $(1)/lib $(wildcard $(1)/lib/*-linux-gnu)
find_library = $(firstword $(wildcard $(addsuffix /lib$(2).so,$(call library_dirs,$(1)))) \
                           $(wildcard $(addsuffix /lib$(2).so.[0-9]*,$(call library_dirs,$(1)))))
CUDNN_HOME ?= $(firstword $(foreach d,$(CUDA_HOME) /usr,$(if $(wildcard $(d)/include/cudnn.h),$(d))))
CUBLAS_HOME ?= $(firstword $(foreach d,$(CUDA_HOME) /usr,$(if $(wildcard $(d)/include/cublas_v2.h),$(d))))
CUDNN_LIB := $(if $(CUDNN_HOME),$(call find_library,$(CUDNN_HOME),cudnn))
CUBLAS_LIB := $(if $(CUBLAS_HOME),$(call find_library,$(CUBLAS_HOME),cublas))
ENGINES_MISSING := $(if $(and $(wildcard $(CUDNN_HOME)/include/cudnn.h),$(CUDNN_LIB)),,cuDNN (cudnn.h and libcudnn under CUDNN_HOME=$(CUDNN_HOME))) \
                   $(if $(and $(wildcard $(CUBLAS_HOME)/include/cublas_v2.h),$(CUBLAS_LIB)),,cuBLAS (cublas_v2.h and libcublas under CUBLAS_HOME=$(CUBLAS_HOME)))
ifeq ($(origin ENGINES),undefined)
ENGINES := $(if $(and $(filter 1,$(CUDA)),$(if $(strip $(ENGINES_MISSING)),,1)),1,0)
endif
# SASS for A100 and H100/H200, plus PTX so newer GPUs can JIT.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
# The CPU backend's loops are the hot path: -O3 vectorises them (the rest of
# the library gains nothing from it).
CPU_CFLAGS ?= -O3
ALL_CFLAGS := -std=c11 $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -fopenmp \
              -Iinclude -D_POSIX_C_SOURCE=200809L
# What every build links; the CUDA libraries come on top (the emulated CUDA
# build of mk/emu.mk takes only these).
BASE_LDLIBS := -lopenblas -lcjson -lz -lturbojpeg -lpng -lm -fopenmp -pthread
LDLIBS := $(BASE_LDLIBS)
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ALL_CFLAGS += $(SAN_FLAGS)
LDLIBS += $(SAN_FLAGS)
endif

LIB_SRC := $(wildcard lib/core/*.c lib/ops/*.c lib/cpu/*.c lib/nets/*.c lib/data/*.c lib/train/*.c \
                      lib/search/*.c lib/comm/*.c)
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc was not found; set NVCC or CUDA_HOME)
endif
LIB_SRC := $(filter-out lib/core/cuda_absent.c,$(LIB_SRC))
CU_SRC := $(wildcard kernels/*.cu)
NVCCFLAGS := -O2 -std=c++17 $(CUDA_ARCH) -Iinclude -Werror all-warnings \
             -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Werror
LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart -lstdc++
ifeq ($(NCCL),1)
ifeq ($(NCCL_HOME),)
$(error NCCL=1 but nccl.h is not in the CUDA toolkit or /usr; set NCCL_HOME)
endif
LIB_SRC := $(filter-out lib/comm/nccl_absent.c,$(LIB_SRC))
NVCCFLAGS += -I$(NCCL_HOME)/include
LDLIBS += -L$(NCCL_HOME)/lib64 -lnccl
else
CU_SRC := $(filter-out kernels/nccl.cu,$(CU_SRC))
endif
ifeq ($(NVJPEG),1)
ifeq ($(NVJPEG_FOUND),)
$(error NVJPEG=1 but nvjpeg.h and libnvjpeg.so are not under NVJPEG_HOME ($(NVJPEG_HOME)); set NVJPEG_HOME)
endif
LIB_SRC := $(filter-out lib/data/nvjpeg_absent.c,$(LIB_SRC))
NVCCFLAGS += -I$(NVJPEG_HOME)/include
# The run path finds a libnvjpeg outside the toolkit's (the wheel's).
LDLIBS += -L$(NVJPEG_LIBDIR) -Wl,-rpath,$(abspath $(NVJPEG_LIBDIR)) -lnvjpeg
else
CU_SRC := $(filter-out kernels/image_decode.cu,$(CU_SRC))
endif
ifeq ($(ENGINES),1)
ifneq ($(strip $(ENGINES_MISSING)),)
$(error ENGINES=1 but not found: $(strip $(ENGINES_MISSING)); set CUDNN_HOME / CUBLAS_HOME)
endif
LIB_SRC := $(filter-out lib/core/engines_absent.c,$(LIB_SRC))
NVCCFLAGS += $(addsuffix /include,$(addprefix -I,$(sort $(CUDNN_HOME) $(CUBLAS_HOME))))
# Not linked: kernels/engine_libraries.cu opens them on first use. The run
# path lets it find libraries outside the toolkit's (a wheel's).
LDLIBS += $(foreach d,$(sort $(patsubst %/,%,$(dir $(CUDNN_LIB) $(CUBLAS_LIB)))),-Wl,-rpath,$(abspath $(d)))
else
CU_SRC := $(filter-out kernels/engines.cu kernels/engine_libraries.cu kernels/conv2d_cudnn.cu \
                       kernels/linear_cublas.cu,$(CU_SRC))
endif
else ifeq ($(NVJPEG),1)
$(error NVJPEG=1 needs the CUDA backend (nvJPEG decodes on the GPU); CUDA is 0)
else ifeq ($(ENGINES),1)
$(error ENGINES=1 needs the CUDA backend (cuDNN and cuBLAS run on the GPU); CUDA is 0)
endif

OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
SONAME := librlkd.so.$(VERSION_MAJOR)
SHARED := $(LIBDIR)/librlkd.so.$(VERSION)
STATIC := $(LIBDIR)/librlkd.a

TEST_SRC := $(wildcard tests/test_*.c)
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)
CLI_TEST_SRC := $(wildcard tests/cli/test_*.c)
CLI_TEST_BIN := $(CLI_TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) \
            $(GPU_TEST_SRC:tests/gpu/%.c=$(BUILD)/tests/gpu/%) $(CLI_TEST_BIN)
TEST_LDFLAGS := -L$(LIBDIR) -Wl,-rpath,$(abspath $(LIBDIR))
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
CLI_OBJ := $(patsubst cli/%.c,$(BUILD)/cli/%.o,$(wildcard cli/*.c))
CLI_BIN := $(BUILD)/bin/rlkd

.PHONY: FORCE all demo examples test test-sanitize test-valgrind test-valgrind-build check bench-cpu bench-compact bench-python install uninstall docs python clean
all: $(SHARED) $(STATIC) examples $(CLI_BIN)
examples: $(EXAMPLE_BIN)

$(BUILD)/%.o: %.c include/rlkd.h $(wildcard lib/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/lib/cpu/%.o: lib/cpu/%.c include/rlkd.h $(wildcard lib/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CPU_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu include/rlkd.h $(wildcard lib/*/*.h kernels/*.h kernels/*.cuh)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(SHARED): $(OBJ) lib/rlkd.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/rlkd.map \
	  -Wl,--no-undefined -o $@ $(OBJ) $(LDLIBS)
	ln -sf librlkd.so.$(VERSION) $(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR)/librlkd.so

$(STATIC): $(OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $(OBJ)

$(BUILD)/tests/testlib.o: tests/testlib.c tests/testlib.h include/rlkd.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/tests/testlib.o $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/tests/testlib.o \
	  $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

# test_ddpg calls the agent's internal (hidden) functions, test_image_folder
# RandomResizedCrop's window, test_comm the started sums of a communicator,
# test_engine the opening of cuDNN and cuBLAS, test_norm_pool_gpu
# synchronised batch norm's entries with a fake sum hook: the static library.
$(BUILD)/tests/test_ddpg $(BUILD)/tests/test_image_folder $(BUILD)/tests/test_comm \
$(BUILD)/tests/test_engine \
$(BUILD)/tests/gpu/test_norm_pool_gpu: $(BUILD)/tests/%: \
    tests/%.c $(BUILD)/tests/testlib.o $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/tests/testlib.o $(STATIC) \
	  $(LDLIBS)

# The rlkd command's chart writer, tested from its source (it needs only
# libc and libm; the harness needs the library).
$(BUILD)/tests/cli/test_plot: tests/cli/test_plot.c cli/plot.c cli/plot.h \
                              $(BUILD)/tests/testlib.o $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -Icli -o $@ tests/cli/test_plot.c cli/plot.c \
	  $(BUILD)/tests/testlib.o $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

# The rlkd command, linked against the shared library like the examples;
# its run path finds an installed library first ($ORIGIN/../lib from
# $(PREFIX)/bin), then this build's.
$(BUILD)/cli/%.o: cli/%.c $(wildcard cli/*.h) include/rlkd.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CLI_BIN): $(CLI_OBJ) $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) -L$(LIBDIR) \
	  -Wl,-rpath,'$$ORIGIN/../lib:$(abspath $(LIBDIR))' -lrlkd $(LDLIBS)

# Further targets, one file per concern (the fuzzers, ThreadSanitizer, ...).
# Each may add programs to EXTRA_TEST_BIN and scripts to EXTRA_TEST_SCRIPTS
# (both run by `make test`), and targets to CHECK_TARGETS (run by `make check`).
EXTRA_TEST_BIN :=
EXTRA_TEST_SCRIPTS :=
CHECK_TARGETS := test-sanitize test-valgrind
include $(sort $(wildcard mk/*.mk))

# Every test program, the examples, then the ABI checks and the C++ example
# against an installed copy, and the API reference.
test: $(SHARED) $(STATIC) $(TEST_BIN) $(EXTRA_TEST_BIN) $(EXAMPLE_BIN) $(CLI_BIN)
	@CC="$(CC)" BUILD="$(BUILD)" LIBDIR="$(LIBDIR)" SAN_FLAGS="$(SAN_FLAGS)" \
	  MAKE="$(MAKE)" CUDA="$(CUDA)" SAN="$(SAN)" tests/run.sh $(TEST_BIN) $(EXTRA_TEST_BIN) \
	  $(EXTRA_TEST_SCRIPTS) tests/check_examples.sh tests/check_cli.sh tests/check_paper_scripts.sh tests/check_fashion_data.sh tests/python/run.sh tests/abi/check_abi.sh \
	  tests/install/check_cpp_example.sh tests/docs/check_docs.sh

# The main job on Fashion-MNIST with the rlkd command (resumes where it stopped).
demo: all
	RLKD=$(CLI_BIN) OUT=$(BUILD)/demo scripts/demo.sh

test-sanitize:
	$(MAKE) BUILD=build/sanitize LIBDIR=build/sanitize/lib SAN=1 CUDA=0 test

# memcheck on the CPU unit tests; OpenMP's and OpenBLAS's thread pools keep
# their memory until exit, so only definite leaks count. test_zoo builds the
# ImageNet networks (hundreds of millions of weights): far too slow under
# valgrind, and its code paths are the builder's, which test_net covers;
# test_search_zoo builds them too (the search's paths: test_search). A CPU
# build of its own (CUDA=0): these tests run no GPU code, and a CUDA build
# would load cuDNN and cuBLAS (a gigabyte) into every program under valgrind.
VALGRIND_TESTS := $(filter-out $(BUILD)/tests/test_zoo $(BUILD)/tests/test_search_zoo,$(TEST_SRC:tests/%.c=$(BUILD)/tests/%)) \
                  $(CLI_TEST_BIN)
test-valgrind:
	$(MAKE) BUILD=build/valgrind LIBDIR=build/valgrind/lib CUDA=0 test-valgrind-build
test-valgrind-build: $(SHARED) $(VALGRIND_TESTS)
	@RLKD_TEST_VALGRIND=1 VALGRIND="valgrind -q --error-exitcode=1 --suppressions=tests/valgrind.supp --leak-check=full \
	  --errors-for-leak-kinds=definite --show-possibly-lost=no" \
	  tests/run.sh $(VALGRIND_TESTS)

check: test
	for target in $(CHECK_TARGETS); do $(MAKE) $$target || exit 1; done

# The CPU benchmark against PyTorch on the same threads (not a test: the
# numbers depend on the machine). Passive OpenMP waiting keeps idle spinning
# threads of one library from stealing the cores of the other; each case is
# timed in rlkd and right after in PyTorch.
THREADS ?= 2
BENCH_MIN_TIME ?= 0.5
BENCH_PYTHON ?= /usr/bin/python3
BENCH_DIR := $(BUILD)/bench-cpu

BENCH_BIN := $(BUILD)/bench/bench_cpu $(BUILD)/bench/bench_compact
$(BUILD)/bench/bench_cpu: bench/cpu/bench_cpu.c bench/bench_cases.h
$(BUILD)/bench/bench_compact: bench/prune/bench_compact.c
$(BENCH_BIN): $(SHARED) bench/bench.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

# Compaction's speed-up: the compacted student's inference time against its
# MACs (not a test; the table goes to docs/results.md by hand).
# The Python bindings' overhead against the same calls from C, both in one
# process (the C side is a shared object the script loads); the table goes
# to docs/python.md.
$(BUILD)/bench/libbench_bindings.so: bench/python/bench_bindings.c $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $< $(TEST_LDFLAGS) -lrlkd

bench-python: export OMP_WAIT_POLICY = passive
bench-python: $(SHARED) $(BUILD)/bench/libbench_bindings.so
	RLKD_LIBRARY=$(CURDIR)/$(SHARED) $(BENCH_PYTHON) bench/python/bench_bindings.py \
	  --c $(BUILD)/bench/libbench_bindings.so --markdown docs/python.md

bench-compact: export OMP_WAIT_POLICY = passive
bench-compact: $(BUILD)/bench/bench_compact
	$(BUILD)/bench/bench_compact --threads $(THREADS)

bench-cpu: export OMP_WAIT_POLICY = passive
bench-cpu: $(SHARED) $(BUILD)/bench/bench_cpu
	$(BENCH_PYTHON) bench/cpu/cases.py $(LIBDIR)/$(SONAME) $(BENCH_DIR)
	$(BENCH_PYTHON) bench/cpu/peer_torch.py --threads $(THREADS) --min-time $(BENCH_MIN_TIME) \
	  --rlkd $(BUILD)/bench/bench_cpu --rlkd-out $(BENCH_DIR)/rlkd.jsonl \
	  $(BENCH_DIR)/cases.json > $(BENCH_DIR)/torch.jsonl
	$(BENCH_PYTHON) bench/cpu/report.py --threads $(THREADS) --min-time $(BENCH_MIN_TIME) \
	  $(BENCH_DIR)/cases.json $(BENCH_DIR)/rlkd.jsonl $(BENCH_DIR)/torch.jsonl docs/benchmarks.md

$(BUILD)/rlkd.pc: FORCE
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: rlkd' \
	  'Description: RL channel pruning and knowledge distillation for CNNs' \
	  'Version: $(VERSION)' 'Libs: -L$${libdir} -lrlkd' \
	  'Libs.private: $(LDLIBS)' 'Cflags: -I$${includedir}' > $@

# CMake's package (find_package(rlkd), the targets rlkd::rlkd and
# rlkd::rlkd_static) from the templates in cmake/: rlkd builds without CMake,
# and the files find their prefix themselves, so PREFIX is not in them.
CMAKE_PACKAGE := $(BUILD)/cmake/rlkdConfig.cmake $(BUILD)/cmake/rlkdConfigVersion.cmake
$(CMAKE_PACKAGE): $(BUILD)/cmake/%: cmake/%.in FORCE
	@mkdir -p $(@D)
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
	  -e 's|@LIBS_PRIVATE@|$(LDLIBS)|g' $< > $@

install: $(SHARED) $(STATIC) $(BUILD)/rlkd.pc $(CMAKE_PACKAGE) $(CLI_BIN)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/lib/cmake/rlkd $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/rlkd.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf librlkd.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/librlkd.so
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/rlkd.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 $(CMAKE_PACKAGE) $(DESTDIR)$(PREFIX)/lib/cmake/rlkd/

# The Python package with this build's library copied into it, installed by
# pip into PYTHON's environment (a virtual environment, or PIP_FLAGS=--user;
# Debian's own python3 refuses system-wide installs). No build isolation:
# pip would fetch setuptools from the network otherwise.
PYTHON ?= python3
PIP_FLAGS ?=
python: $(SHARED)
	cp $(SHARED) bindings/python/rlkd/$(SONAME)
	$(PYTHON) -m pip install --no-build-isolation $(PIP_FLAGS) ./bindings/python

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/rlkd.h \
	  $(DESTDIR)$(PREFIX)/lib/librlkd.so* $(DESTDIR)$(PREFIX)/lib/librlkd.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/rlkd.pc $(DESTDIR)$(PREFIX)/bin/rlkd
	rm -rf $(DESTDIR)$(PREFIX)/lib/cmake/rlkd

# The API reference from include/rlkd.h's comments, by docs/Doxyfile (where a
# warning fails the run), with the version and BUILD's folder added here.
docs:
	rm -rf $(BUILD)/docs/api && mkdir -p $(BUILD)/docs/api
	{ cat docs/Doxyfile; echo 'PROJECT_NUMBER = $(VERSION)'; \
	  echo 'OUTPUT_DIRECTORY = $(BUILD)/docs/api'; } | doxygen -

clean:
	rm -rf build $(LIBDIR)/librlkd.so* $(LIBDIR)/librlkd.a bindings/python/rlkd/librlkd.so.* \
	  bindings/python/build bindings/python/rlkd.egg-info
