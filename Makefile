# carcinoma: the two commands a fresh machine needs are `make run` and `make test`.
SWIFT ?= swift
CONFIG ?= release
BIN = .build/$(CONFIG)/carcinoma
DATA ?= demo/kather-mini/images
LABELS ?= demo/kather-mini/labels.csv
OUT ?= runs/demo
PYTHON ?= python3
DEB_PACKAGES = libopenblas-dev liblapacke-dev libpng-dev libjpeg-dev

.PHONY: setup build test run bench clean fuzz

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

test: setup
	$(SWIFT) test -c release --disable-swift-testing

run: build
	./scripts/run-demo.sh "$(BIN)" "$(DATA)" "$(LABELS)" "$(OUT)"

bench: build
	./scripts/bench.sh "$(BIN)"

# libFuzzer + AddressSanitizer on every parser, FUZZ_SECONDS each (default 30); see FUZZING.md.
FUZZ_SECONDS ?= 30
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) ./scripts/fuzz.sh $(FUZZ_TARGETS)

clean:
	rm -rf .build runs
