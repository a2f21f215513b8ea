# The GPU benchmark's program: bench_gpu times rlkd's CUDA backend and its
# cuDNN engine on the cases of bench/gpu/cases.py; bench/gpu/run.py runs it
# with the PyTorch side (torch_peers.py) and merges them. tests/gpu/check.sh
# runs the whole on a GPU machine. Here `make test` runs the same code with
# tiny shapes on the CPU, and bench_gpu's CUDA side on the CUDA emulator
# (tests/check_bench_gpu.sh), so that none of it first runs on the rare GPU.
$(BUILD)/bench/bench_gpu: bench/gpu/bench_gpu.c bench/bench.h bench/bench_cases.h $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

test: $(BUILD)/bench/bench_gpu
EXTRA_TEST_SCRIPTS += tests/check_bench_gpu.sh
