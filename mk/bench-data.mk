# make bench-data: decoded-and-augmented images per second of rlkd's
# loader against torchvision's DataLoader (ImageFolder, RandomResizedCrop
# + flip + ToTensor + Normalize, batches of 64) on the same JPEGs and the
# same cores, for each worker count of BENCH_DATA_WORKERS, and with the
# loader decoding on the GPU (nvJPEG) where there is one and rlkd has
# nvJPEG (skipped elsewhere). Not a test: the numbers are the machine's.
# Writes its section of docs/benchmarks.md; the JPEGs are made once under
# $(BUILD)/bench-data.
BENCH_DATA_WORKERS ?= 1,2
BENCH_DATA_IMAGES ?= 1500
BENCH_DATA_SECONDS ?= 10
BENCH_DATA_REPEATS ?= 3

.PHONY: bench-data

$(BUILD)/bench/bench_data: bench/data/bench_data.c bench/bench.h $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_LDFLAGS) -lrlkd $(LDLIBS)

bench-data: $(BUILD)/bench/bench_data
	$(BENCH_PYTHON) bench/data/run.py --bench $(BUILD)/bench/bench_data \
	  --images $(BUILD)/bench-data/images --count $(BENCH_DATA_IMAGES) \
	  --workers $(BENCH_DATA_WORKERS) --seconds $(BENCH_DATA_SECONDS) \
	  --repeats $(BENCH_DATA_REPEATS) --markdown docs/benchmarks.md
