# The CUDA backend on the CPU: kernels/*.cu compiled as host C++ against the
# emulated runtime of tests/emu (fibers for threads, barriers for
# __syncthreads and the warp collectives), linked into a library of its own
# with the rest of rlkd, and the GPU tests (tests/gpu) run against it. So
# every kernel is checked against the CPU reference on every machine, GPU or
# not; a real GPU run (tests/gpu/check.sh) adds what emulation cannot see:
# timing, the hardware's rounding, races between warps of real hardware.
#
#   make test-cuda-emu      build and run the GPU tests on the emulator
#   make test-cuda-emu-valgrind   the same under valgrind's memcheck
#
# Part of `make test` (not under the sanitizers: fibers switch stacks, which
# ASan and TSan do not follow). Needs no nvcc. Left out: NCCL, nvJPEG, cuDNN
# and cuBLAS (libraries the emulator cannot stand in for; their tests skip).

EMU_BUILD := $(BUILD)/emu
EMU_LIBDIR := $(EMU_BUILD)/lib
EMU_SHARED := $(EMU_LIBDIR)/librlkd.so.$(VERSION)
EMU_LIB_SRC := $(filter-out lib/core/cuda_absent.c,$(wildcard lib/core/*.c lib/ops/*.c \
    lib/cpu/*.c lib/nets/*.c lib/data/*.c lib/train/*.c lib/search/*.c lib/comm/*.c))
EMU_CU_SRC := $(filter-out kernels/nccl.cu kernels/image_decode.cu kernels/engines.cu \
    kernels/engine_libraries.cu kernels/conv2d_cudnn.cu \
    kernels/linear_cublas.cu,$(wildcard kernels/*.cu))
EMU_OBJ := $(EMU_LIB_SRC:%.c=$(BUILD)/%.o) $(EMU_CU_SRC:%.cu=$(EMU_BUILD)/%.o) \
           $(EMU_BUILD)/tests/emu/emu.o
EMU_CXX ?= g++
# -O1: the fibers' many small switches make -O2's gains small, and the
# kernels compile faster.
EMU_CXXFLAGS := -std=c++17 -O1 -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden \
                -Itests/emu -Iinclude
EMU_TEST_BIN := $(EMU_BUILD)/tests/emu/test_emu \
                $(GPU_TEST_SRC:tests/gpu/%.c=$(EMU_BUILD)/tests/gpu/%)

$(EMU_BUILD)/kernels/%.o: kernels/%.cu tests/emu/cuda_runtime.h include/rlkd.h \
                          $(wildcard lib/*/*.h kernels/*.h kernels/*.cuh)
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_CXXFLAGS) -x c++ -c $< -o $@

$(EMU_BUILD)/tests/emu/emu.o: tests/emu/emu.cpp tests/emu/cuda_runtime.h
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_CXXFLAGS) -c $< -o $@

# The emulator's own tests (tests/emu/test_emu.cpp): kernels of their own,
# the emulated runtime, no rlkd.
$(EMU_BUILD)/tests/emu/test_emu: tests/emu/test_emu.cpp $(EMU_BUILD)/tests/emu/emu.o \
                                 kernels/mma.cuh kernels/cuda_common.cuh
	@mkdir -p $(@D)
	$(EMU_CXX) $(EMU_CXXFLAGS) -o $@ $< $(EMU_BUILD)/tests/emu/emu.o

$(EMU_SHARED): $(EMU_OBJ) lib/rlkd.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/rlkd.map \
	  -Wl,--no-undefined -o $@ $(EMU_OBJ) $(BASE_LDLIBS) -lstdc++
	ln -sf librlkd.so.$(VERSION) $(EMU_LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(EMU_LIBDIR)/librlkd.so

$(EMU_BUILD)/tests/gpu/%: tests/gpu/%.c $(BUILD)/tests/testlib.o $(EMU_SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/tests/testlib.o \
	  -L$(EMU_LIBDIR) -Wl,-rpath,$(abspath $(EMU_LIBDIR)) -lrlkd $(BASE_LDLIBS)

# test_norm_pool_gpu calls synchronised batch norm's internal (hidden)
# entries with a fake sum hook: linked with the objects themselves.
$(EMU_BUILD)/tests/gpu/test_norm_pool_gpu: tests/gpu/test_norm_pool_gpu.c \
                                           $(BUILD)/tests/testlib.o $(EMU_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/tests/testlib.o $(EMU_OBJ) \
	  $(BASE_LDLIBS) -lstdc++

.PHONY: test-cuda-emu test-cuda-emu-valgrind
test-cuda-emu: $(EMU_TEST_BIN)
	@tests/run.sh $(EMU_TEST_BIN)

# The emulated GPU tests under valgrind's memcheck (part of `make check`):
# device memory is host memory of each block's exact size (tests/emu,
# kernels/memory.cu), so a kernel that reads or writes past a buffer's end
# or reads memory never written is reported with its file and line, as
# compute-sanitizer would on a GPU. Shared memory is not checked this way
# (static arrays). test_emu is left out: it aborts a child on purpose.
test-cuda-emu-valgrind: $(EMU_TEST_BIN)
	@VALGRIND="valgrind -q --error-exitcode=1 --suppressions=tests/valgrind.supp --leak-check=full \
	  --errors-for-leak-kinds=definite --show-possibly-lost=no" \
	  tests/run.sh $(filter-out %/test_emu,$(EMU_TEST_BIN))

CHECK_TARGETS += test-cuda-emu-valgrind

# tests/check_cuda_emu_cli.sh: the rlkd command with --device cuda on the
# emulated library (train, distil, fine-tune, evaluate; the CPU's figures).
ifeq ($(SAN)$(TSAN),0)
EXTRA_TEST_BIN += $(EMU_TEST_BIN)
EXTRA_TEST_SCRIPTS += tests/check_cuda_emu_cli.sh
endif
