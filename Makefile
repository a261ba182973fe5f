# kiln: the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo

.PHONY: deps build release demo test check-docs test-unit test-fuzz fuzz-campaign test-integration test-v2 test-runc-suite test-runc-suite-rootless test-systemd

# The Debian packages building and testing need, installed when missing (as root, else through
# sudo); the list is in scripts/install-deps.sh (`--list`), which .ci/run calls too.
deps:
	@./scripts/install-deps.sh

build: deps
	$(CARGO) build -p kiln

release: deps
	$(CARGO) build --release -p kiln

# Build kiln and run a busybox container with it.
demo: release
	./scripts/demo.sh target/x86_64-unknown-linux-gnu/release/kiln

# Everything CI runs: the docs and packaging check, unit tests, a short run of
# every fuzz target, end-to-end tests against the kiln binary on this host
# (cgroup v1/hybrid), runc's own integration suite against kiln (compared with
# integration-tests/runc-suite/expected.txt), the cgroup v2 tests inside a
# small VM, and the systemd cgroup driver's tests under systemd in a VM.
test: deps check-docs build test-unit test-fuzz test-integration test-runc-suite test-runc-suite-rootless test-v2 test-systemd

# The library crates' API docs build without warnings (broken intra-doc links...), and every
# published crate packages and builds from its package alone, as `cargo publish` checks it.
# The READMEs' examples are doc tests, run by test-unit. cargo verifies each crate against its
# sibling crates' packages, unpacked from a temporary registry under CARGO_HOME that is keyed by
# the checkout's path and the version only: a checkout at the same path (CI's clean clone) would
# build against the stale sources a previous run unpacked there, so those are removed first.
check-docs: deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --all-features -p kiln-libcontainer -p kiln-cgroups -p kiln-seccomp
	rm -rf $${CARGO_HOME:-$$HOME/.cargo}/registry/src/-*/kiln-*
	$(CARGO) package --workspace --exclude kiln-integration-tests --allow-dirty

test-unit: deps
	$(CARGO) test --workspace --exclude kiln-integration-tests -- --test-threads=2

# Every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS on its seed corpus;
# needs `cargo +nightly` (cargo-fuzz is installed when missing). See fuzz/README.md.
FUZZ_SECONDS ?= 30
test-fuzz: deps
	./fuzz/run.sh $(FUZZ_SECONDS)

# The long campaign, by hand: every target for FUZZ_MINUTES, one summary table.
FUZZ_MINUTES ?= 10
fuzz-campaign:
	./fuzz/campaign.sh $(FUZZ_MINUTES)

test-integration: build
	$(CARGO) test -p kiln-integration-tests -- --test-threads=2

# runc's integration suite (../shared/conformance, unmodified) against the
# release binary; fails on any test that expected.txt says passes.
RUNC_SUITE_OUT ?= target/runc-suite
test-runc-suite: release
	rm -rf $(RUNC_SUITE_OUT)
	../shared/conformance/run-runc-suite target/x86_64-unknown-linux-gnu/release/kiln $(RUNC_SUITE_OUT) >$(RUNC_SUITE_OUT).log 2>&1 || { tail -50 $(RUNC_SUITE_OUT).log; exit 1; }
	grep -v "^[0-9]* passed" $(RUNC_SUITE_OUT).log || true
	./integration-tests/runc-suite/check.sh integration-tests/runc-suite/expected.txt $(RUNC_SUITE_OUT)/results.txt

# runc's suite in rootless mode: its tests/rootless.sh runs the files listed in
# integration-tests/runc-suite/rootless-files.txt as user "rootless" once per feature set
# (none, idmap, cgroup, idmap+cgroup); compared with rootless-expected.txt. The lock keeps
# other rootless tests off /etc/subuid and newuidmap meanwhile (rootless.sh edits/moves them).
RUNC_SUITE_ROOTLESS_OUT ?= target/runc-suite-rootless
test-runc-suite-rootless: release
	rm -rf $(RUNC_SUITE_ROOTLESS_OUT)
	flock /tmp/kiln-rootless.lock ../shared/conformance/run-runc-suite --rootless target/x86_64-unknown-linux-gnu/release/kiln $(RUNC_SUITE_ROOTLESS_OUT) $$(grep -v '^#' integration-tests/runc-suite/rootless-files.txt) >$(RUNC_SUITE_ROOTLESS_OUT).log 2>&1 || { tail -50 $(RUNC_SUITE_ROOTLESS_OUT).log; exit 1; }
	grep -v "^[0-9]* passed" $(RUNC_SUITE_ROOTLESS_OUT).log || true
	./integration-tests/runc-suite/check.sh integration-tests/runc-suite/rootless-expected.txt $(RUNC_SUITE_ROOTLESS_OUT)/results.txt

# cgroup v2 (pure) in a VM: the cgroups crate's v2 tests, then kiln itself.
test-v2:
	./cgroups/tests/run-v2-vm.sh
	./integration-tests/run-v2-vm.sh

# systemd as PID 1 on a pure cgroup v2 hierarchy, in a VM (integration-tests/systemd-vm/, its
# README): the systemd cgroup driver end to end (driver.sh, rootless.sh, podman and containerd
# in engines.sh, kill points in faults.sh, kiln-cgroups' systemd tests). `RUNTIME=runc` runs
# the same scripts against Debian's runc. The image is built on first use and cached.
test-systemd: build
	./integration-tests/systemd-vm/test-systemd.sh $(if $(RUNTIME),--runtime $(RUNTIME)) --cgroups-test "$$(./integration-tests/systemd-vm/run-cgroups-tests.sh --path)" $(or $(KILN),target/x86_64-unknown-linux-gnu/debug/kiln)
