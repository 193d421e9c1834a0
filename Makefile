# frazil: the two commands are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build test unit interop demo bench soak format lint clean sanitize

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

interop: build
	.venv/bin/python -m pytest -q tests/interop

test: unit interop

demo: build
	bash examples/demo.sh

bench: build
	bash bench/run.sh

# Long runs kept out of `make test`: the REST catalog's concurrent writers at 10x the commits.
soak: build
	FRAZIL_REST_COMMITS=1000 .venv/bin/python -m pytest -q tests/interop/test_rest_catalog.py -k concurrent_writers

sanitize:
	$(MAKE) BUILD=build-asan CMAKE_FLAGS="-DFRAZIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" unit

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

lint: $(BUILD)/build.ninja
	git ls-files 'src/*.cc' | xargs clang-tidy -p $(BUILD) --quiet

clean:
	rm -rf $(BUILD) build-asan
