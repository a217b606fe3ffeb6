# carcinoma: the two commands a fresh machine needs are `make run` and `make test`.
SWIFT ?= swift
CONFIG ?= release
BIN = .build/$(CONFIG)/carcinoma
# `make run` and `make test` share one build: the same configuration, the same .build folder and the
# same compiler flags. `swift test` compiles every module for @testable import unless told not to,
# which changes the flags of every module and made each command rebuild what the other had built
# (2.5 to 4 minutes every time); no test uses @testable, so the tests are built without it (a test that
# adds `@testable import` fails with "module was not compiled for testing": test the public API instead).
TEST_FLAGS = -c $(CONFIG) --disable-testable-imports --disable-swift-testing
DATA ?= demo/kather-quarters/images
LABELS ?= demo/kather-quarters/labels.csv
OUT ?= runs/demo
PYTHON ?= python3
DEB_PACKAGES = libopenblas-dev liblapacke-dev libpng-dev libjpeg-dev

.PHONY: setup build test run readme-check bench clean distclean fuzz

# Installs the system libraries when any is missing (Debian; root or sudo).
setup:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: setup
	$(SWIFT) build -c $(CONFIG) --product carcinoma

# `make test FILTER=OxMLTests` runs only the matching tests, on the same build.
test: setup
	$(SWIFT) test $(TEST_FLAGS) $(if $(FILTER),--filter '$(FILTER)')

run: build
	./scripts/run-demo.sh "$(BIN)" "$(DATA)" "$(LABELS)" "$(OUT)"

# Runs every `sh` block of README.md as written (after `make run`): see scripts/check-readme.sh.
readme-check: run
	./scripts/check-readme.sh

bench: build
	./scripts/bench.sh "$(BIN)"

# libFuzzer + AddressSanitizer on every parser, FUZZ_SECONDS each (default 30); see FUZZING.md.
FUZZ_SECONDS ?= 30
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) ./scripts/fuzz.sh $(FUZZ_TARGETS)

# The build and the runs' outputs; the feature cache (features/) and the fetched weights (weights/) stay,
# since they take longest to make again: `make distclean` removes them too.
clean:
	rm -rf .build runs

distclean: clean
	rm -rf weights
	find features -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
