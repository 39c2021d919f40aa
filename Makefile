.DEFAULT_GOAL := help
.PHONY: help build fmt vet lint test race bench-smoke bench fuzz ci

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'
build: ## build ./trinity
	go build -trimpath -o trinity ./cmd/trinity
fmt: ## fail if any file is not gofmt-ed
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "$$out"; exit 1; }
vet: ## go vet
	go vet ./...
lint: ## staticcheck
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
test: ## unit, integration and end-to-end tests
	go test ./...
race: ## tests with the race detector
	go test -race ./...
bench-smoke: ## every benchmark once
	go test -run '^$$' -bench . -benchtime 1x ./...
bench: ## benchmarks for benchstat (BENCH=regexp)
	go test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem -count 10 ./... | tee bench.txt
fuzz: ## each fuzz target for 30s (FUZZTIME=…)
	@for pkg in $$(go list ./...); do for t in $$(go test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
		go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(or $(FUZZTIME),30s) $$pkg || exit 1; done; done
ci: ## what CI runs
	bash .ci/run
