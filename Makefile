# v6guard top-level driver. Userspace builds with CMake into build/, the kernel
# module with kbuild against Debian's 6.1 headers (the QEMU guest kernel).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build kmod test unit integration selftest bench fuzz demo format tidy clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

kmod:
	$(MAKE) -C kmod

# The README's test command: unit (release) + host integration (netns) +
# kernel selftests in QEMU + unit under ASan+UBSan in build-asan/ (incl. two
# integration scripts against the ASan daemon) + TSan in build-tsan/; the
# sanitizer builds run in the background at idle priority meanwhile
# (docs/testing.md). V6G_ASAN=0 / V6G_TSAN=0 skip the sanitizer tiers.
test: deps build
	scripts/run-tests.sh $(BUILD_DIR)

unit: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j$(JOBS)

integration: build
	cd $(BUILD_DIR) && ctest -L integration --output-on-failure

selftest: deps build kmod
	scripts/vm-run.sh

# Every benchmark; writes docs/BENCHMARKS.md (V6G_BENCH_KMOD=0 skips the QEMU one).
bench: deps build
	cmake --build $(BUILD_DIR) -j$(JOBS) --target v6g_benches
	scripts/bench.sh $(BUILD_DIR) docs/BENCHMARKS.md

# libFuzzer targets under ASan+UBSan (clang, CMake preset `fuzz` in build-fuzz/),
# each for V6G_FUZZ_SECONDS (default 30); seeds from the tests' data.
V6G_FUZZ_SECONDS ?= 30
fuzz: deps
	cmake --preset fuzz
	cmake --build build-fuzz -j$(JOBS) --target $(notdir $(basename $(wildcard manager/fuzz/*_fuzz.cc)))
	scripts/fuzz.sh build-fuzz $(V6G_FUZZ_SECONDS)

demo: deps build
	scripts/demo.sh $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' '*.c' | xargs clang-format -i

tidy: build
	# GCC-only warning flags in compile_commands.json are not clang-tidy's to judge.
	git ls-files 'manager/*.cc' | xargs clang-tidy -p $(BUILD_DIR) --quiet --extra-arg=-Wno-unknown-warning-option

clean:
	rm -rf $(BUILD_DIR) build-fuzz build-asan build-tsan
	-$(MAKE) -C kmod clean
