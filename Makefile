# shardis — see README.md. Every target works on a fresh Debian machine as root.
GO        ?= go
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
PKGS      := ./...
TESTFLAGS ?= -race -count=1 -timeout 14m
FUZZTIME  ?= 10s

.PHONY: all build run test deps lint vet fmt-check bench fuzz soak clean

all: build

## build: every binary of cmd/ into bin/
build:
	@mkdir -p $(BIN)
	@for c in $(CMDS); do \
	  echo "go build -o $(BIN)/$$c ./cmd/$$c"; \
	  $(GO) build -o $(BIN)/$$c ./cmd/$$c || exit 1; \
	done

## deps: install missing Debian packages the tests and demo need
deps:
	@scripts/deps.sh

## run: bring up the local stack in the foreground (Ctrl-C stops it all)
run: deps build
	@scripts/run.sh

## test: install what the tests need, then lint and run every test with -race
test: deps lint
	$(GO) test $(TESTFLAGS) $(PKGS)

## lint: gofmt and go vet
lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## bench: Go benchmarks and redis-benchmark comparisons (not part of test)
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	@scripts/bench.sh

## fuzz: a short run of every fuzz target (FUZZTIME each)
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

## soak: long mixed load with failures (minutes; not part of test)
soak: deps build
	@scripts/soak.sh

clean:
	rm -rf $(BIN)
