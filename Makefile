# kiln: the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo

.PHONY: build release demo test test-unit test-integration test-v2

build:
	$(CARGO) build -p kiln

release:
	$(CARGO) build --release -p kiln

# Build kiln and run a busybox container with it.
demo: release
	./scripts/demo.sh target/x86_64-unknown-linux-gnu/release/kiln

# Everything CI runs: unit tests, end-to-end tests against the kiln binary on
# this host (cgroup v1/hybrid), and the cgroup v2 tests inside a small VM.
test: build test-unit test-integration test-v2

test-unit:
	$(CARGO) test --workspace --exclude kiln-integration-tests -- --test-threads=2

test-integration: build
	$(CARGO) test -p kiln-integration-tests -- --test-threads=2

# cgroup v2 (pure) in a VM: the cgroups crate's v2 tests, then kiln itself.
test-v2:
	./cgroups/tests/run-v2-vm.sh
	./integration-tests/run-v2-vm.sh
