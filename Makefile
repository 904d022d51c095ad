# make demo   builds and runs examples/quickstart.json on the simulated model
# make test   builds and runs every test (ctest)
# make bench  builds and runs the benchmarks
# make test-asan  every test under AddressSanitizer + UBSan (clang, build-asan/)
# make test-tsan  every test under ThreadSanitizer (clang, build-tsan/)
# make fuzz       each libFuzzer target for FUZZ_SECONDS (default 60; build-asan/)
BUILD ?= build
JOBS ?= 2
# Unity builds compile each folder's sources in batches of 8: CAF's templates are
# instantiated once a batch rather than once a file, which halves a clean build.
# UNITY=OFF for quicker rebuilds of one changed file.
UNITY ?= ON
CMAKE_FLAGS ?=

.PHONY: deps configure build demo test bench clean test-asan test-tsan fuzz fuzz-ci

deps:
	@./scripts/install-deps.sh

# -g1 (line tables and function names, no variables): stacks and perf still name the
# code, and the build takes about a quarter less time than with -g.
$(BUILD)/build.ninja: | deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" $(CMAKE_FLAGS) >/dev/null

configure: deps $(BUILD)/build.ninja

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/cohort run examples/quickstart.json

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# The benchmarks are not part of `all` (make test does not need them).
bench: build
	@cmake --build $(BUILD) -j $(JOBS) --target cohort_bench cohort_node_bench
	@./bench/run.sh $(BUILD)

# Sanitized builds: clang (libFuzzer needs it), -O1 with line tables only (a third of
# the build time of -O2 -g, stacks still name the line), no benchmarks.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SANITIZED_FLAGS = -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=$(UNITY) \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCOHORT_BUILD_BENCH=OFF
SANITIZERS = $(CURDIR)/tests/sanitizers
SYMBOLIZER = $(shell command -v llvm-symbolizer-14 || command -v llvm-symbolizer)
# The npm mock's fixture installs from the registry: the plain `make test` covers it.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0 \
  LSAN_OPTIONS=suppressions=$(SANITIZERS)/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SANITIZERS)/ubsan.supp ASAN_SYMBOLIZER_PATH=$(SYMBOLIZER) COHORT_SKIP_NPM_MOCK=1
TSAN_ENV = TSAN_OPTIONS=suppressions=$(SANITIZERS)/tsan.supp:halt_on_error=1:second_deadlock_stack=1 \
  TSAN_SYMBOLIZER_PATH=$(SYMBOLIZER) COHORT_SKIP_NPM_MOCK=1

$(ASAN_BUILD)/build.ninja: | deps
	@cmake -S . -B $(ASAN_BUILD) $(SANITIZED_FLAGS) -DCOHORT_SANITIZE=address -DCOHORT_FUZZ=ON >/dev/null

$(TSAN_BUILD)/build.ninja: | deps
	@cmake -S . -B $(TSAN_BUILD) $(SANITIZED_FLAGS) -DCOHORT_SANITIZE=thread >/dev/null

test-asan: deps $(ASAN_BUILD)/build.ninja
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 600

test-tsan: deps $(TSAN_BUILD)/build.ninja
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 600

FUZZ_SECONDS ?= 60
fuzz: deps $(ASAN_BUILD)/build.ninja
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target fuzz_targets
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh $(ASAN_BUILD)

# What CI runs of the fuzzers: each target briefly, from the seeds and what earlier runs kept.
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=15

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
