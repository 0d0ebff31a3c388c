# cxgate: the two commands a newcomer needs are `make run` and `make test`.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME   ?= 1s

.PHONY: run test lint fmt-check bench bench-cluster fuzz build clean cluster cluster-stop

## run: start the gateway with the demo setup on ./data
run:
	$(GO) run ./cmd/cxgate

## build: compile the binary into bin/cxgate
build:
	$(GO) build -o bin/cxgate ./cmd/cxgate

## cluster: PostgreSQL, NATS and three gateways (demo setup) on this machine, in a temporary
## directory; Ctrl-C stops them all (docs/cluster.md, scripts/cluster.sh)
cluster:
	GO=$(GO) ./scripts/cluster.sh start

## cluster-stop: stop the cluster `make cluster` started, from another terminal
cluster-stop:
	./scripts/cluster.sh stop

## bench-cluster: the load generator's load phase against one gateway on bbolt, one on
## PostgreSQL and three sharing PostgreSQL and NATS, then long-poll across nodes: one table
## (scripts/cluster-bench.sh; about a minute; needs postgresql and jq)
bench-cluster:
	GO=$(GO) ./scripts/cluster-bench.sh

## test: vet and the whole suite under the race detector (browser tests need chromium)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## lint: gofmt and staticcheck (fetched through the module proxy)
lint: fmt-check
	$(GO) run $(STATICCHECK) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi

## bench: the Go benchmarks, the long reliability runs, then the load generator's table of
## every DESIGN.md target with its figure and ratio (takes several minutes)
## The Go steps' output is saved in bin/bench.txt; the load generator reads it back so that its
## final table holds every target.
bench: SHELL := /bin/bash
bench:
	@mkdir -p bin
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./... | tee bin/bench.txt
	set -o pipefail; CXGATE_KILL_LONG=1 $(GO) test -count=1 -run 'Kill9' -v ./cmd/cxgate | tee -a bin/bench.txt
	set -o pipefail; CXGATE_CHURN=20000 $(GO) test -count=1 -run 'ConnectionChurn' -v ./transports/native | tee -a bin/bench.txt
	$(GO) run ./cmd/cxgate-load -run all -idle 10000 -longpolls 10000 -visitors 200 -agents 4 -rate 5000 -duration 10s -gobench bin/bench.txt

## fuzz: a short run of every wire parser's fuzzer
fuzz:
	$(GO) test ./transports/native -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime 30s
	$(GO) test ./transports/native -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime 30s
	$(GO) test ./transports/native -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime 30s
	$(GO) test ./transports/gms -run '^$$' -fuzz '^FuzzDecodeForm$$' -fuzztime 30s
	$(GO) test ./transports/purecloud -run '^$$' -fuzz '^FuzzDecodeCreate$$' -fuzztime 30s
	$(GO) test ./transports/purecloud -run '^$$' -fuzz '^FuzzDecodeSend$$' -fuzztime 30s
	$(GO) test ./transports/purecloud -run '^$$' -fuzz '^FuzzPage$$' -fuzztime 30s
	$(GO) test ./plugins/admin -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime 30s
	$(GO) test ./plugins/webhooks -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime 30s
	$(GO) test ./transports/native -run '^$$' -fuzz '^FuzzDecodeUpload$$' -fuzztime 30s
	$(GO) test ./transports/internal/upload -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s

clean:
	rm -rf bin data
