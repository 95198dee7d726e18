# Thin wrapper over CMake. `make demo` and `make test` are the quick start.
BUILD      ?= build
ASAN_BUILD ?= build-asan
ARM_BUILD  ?= build-arm64
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
CMAKE_FLAGS ?=
# The sanitized build uses clang when present: every `make test` then builds
# warning-free under both gcc (plain) and clang (sanitized).
SAN_CC     ?= $(shell command -v clang 2>/dev/null || echo cc)

.PHONY: all configure build demo test test-plain test-asan test-tsan test-arm64 bench deps install clean

all: build

configure:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The tour, after a quiet build: only the build's errors are shown (the
# whole log stays in $(BUILD)/build.log).
demo: configure
	@cmake --build $(BUILD) -j $(JOBS) > $(BUILD)/build.log 2>&1 || \
	  { grep -E -A3 "error|Error" $(BUILD)/build.log | head -60; \
	    echo "make demo: the build failed (whole log: $(BUILD)/build.log)"; exit 1; }
	@sh examples/tour.sh $(BUILD)/examples

# The whole suite: plain, under ASan+UBSan, the threaded tests under TSan
# (SANITIZE=0 skips both), and cross-built for aarch64 under qemu-user
# when those tools are installed. The aarch64 build is a Release one, so
# the suite also builds and runs at -O3 (some gcc warnings appear only
# there).
test: test-plain $(if $(filter 0,$(SANITIZE)),,test-asan test-tsan) test-arm64

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	CC=$(SAN_CC) cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCORIO_CHECKS=ON \
	      -DCORIO_SANITIZE=address,undefined,float-cast-overflow $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

test-tsan:
	CC=$(SAN_CC) cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCORIO_CHECKS=ON \
	      -DCORIO_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target corio_tests
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 \
	      ctest -L threads --output-on-failure -j $(JOBS)

test-arm64:
	@if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then \
	  cmake -S . -B $(ARM_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	        -DCMAKE_BUILD_TYPE=Release >/dev/null && \
	  cmake --build $(ARM_BUILD) -j $(JOBS) && \
	  cd $(ARM_BUILD) && ctest --output-on-failure -j $(JOBS); \
	else echo "aarch64 tests skipped (no aarch64-linux-gnu-gcc or qemu-aarch64; make deps installs them)"; fi

# Every workload on corio and on each peer that builds here; writes
# docs/benchmarks.md and docs/benchmarks.png. QUICK=1: small sizes, one run,
# written to $(BUILD)/bench-quick/ (a smoke test: docs/ keeps the real figures).
bench: configure
	cmake --build $(BUILD) -j $(JOBS) --target benchmarks
	python3 bench/run.py --build $(BUILD) $(if $(filter 1,$(QUICK)),--quick,)

deps:
	sh .ci/deps.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ARM_BUILD) $(TSAN_BUILD)
