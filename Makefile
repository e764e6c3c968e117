# The two commands of the README. Both install what is missing first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build demo test test-asan fuzz-long clean

all: build

deps:
	ci/setup-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	ci/demo $(BUILD)

# Everything CI runs: the core's platform check, the whole suite, the whole
# suite again under ASan+UBSan, and a short libFuzzer run of every target.
test: build
	ci/check-core-calls
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	ci/fuzz-smoke $(FUZZ_SECONDS)

FUZZ_SECONDS ?= 10

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DOUTPOST_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

fuzz-long: deps
	ci/fuzz-smoke 600

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-fuzz
