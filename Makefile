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

# The README's test command: unit + host integration (netns) + kernel selftests in QEMU.
test: deps build
	scripts/run-tests.sh $(BUILD_DIR)

unit: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j$(JOBS)

integration: build
	cd $(BUILD_DIR) && ctest -L integration --output-on-failure

selftest: deps build kmod
	scripts/vm-run.sh

bench: deps build
	scripts/bench.sh $(BUILD_DIR)

# libFuzzer targets under ASan+UBSan (clang), each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DV6G_FUZZ=ON -DV6G_SANITIZE=ON -DV6G_TESTS=OFF -DV6G_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link
	cmake --build build-fuzz -j$(JOBS)
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

demo: deps build
	scripts/demo.sh $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' '*.c' | xargs clang-format -i

tidy: build
	git ls-files 'manager/*.cc' | xargs clang-tidy -p $(BUILD_DIR) --quiet

clean:
	rm -rf $(BUILD_DIR) build-fuzz build-asan
	-$(MAKE) -C kmod clean
