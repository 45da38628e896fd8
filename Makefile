# startle — the two commands that matter:  make run   and   make test
# Both run `setup` first: Docker engine, QEMU/binfmt, Toxiproxy, virtualenv, images (idempotent, cached).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STARTLE := $(VENV)/bin/startle
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: run test setup unit integration scenarios mutants doctor clean help bench-center bench-report bench-storm bench-fleet bench-thirdparty bench-renamed bench-reproduce bench-matrix bench-before-after engine2 bench-remote bench-storm-study bench-storm-scale

help:
	@echo "make run    set up, then run every scenario (reports/latest/)"
	@echo "make test   set up, then unit + integration tests (mutants included)"
	@echo "make unit   unit tests only (no Docker)"
	@echo "make bench-center   requests/s the mock center sustains (wrk)"
	@echo "make bench-report   seconds to build every report of 100 synthetic scenarios"
	@echo "make bench-storm    retry storms: six policies at N=100 (contention), 10,000 agents after an outage"
	@echo "make bench-storm-study  N=100 contention storms beside the classic backoff-and-jitter study's figures"
	@echo "make bench-storm-scale  up to 100,000 simulated agents after an outage, workers in network namespaces"
	@echo "make bench-fleet    100 real agent containers restarted in an outage, beside the simulation"
	@echo "make bench-thirdparty  the whole matrix on each third-party agent (fixtures/thirdparty/)"
	@echo "make bench-renamed     the renamed reference agent through the whole matrix beside the original"
	@echo "make bench-reproduce   every field-failure kind captured and reproduced, and the padded node minimised"
	@echo "make bench-matrix   the matrix with and without pooled worlds (wall, overhead), then repeated for flips"
	@echo "make bench-before-after  the reference matrix before issue 10 (any agent, black box) and now"
	@echo "make engine2        a shell whose DOCKER_HOST is a second engine on this machine (TCP+TLS; gone on exit)"
	@echo "make bench-remote   seconds to stream the agent, center and Toxiproxy images to another engine"

setup:
	@bash scripts/setup.sh

run: setup
	$(STARTLE) run -j 3

# Unit tests on both cores (no Docker). Integration tests one at a time (several measure timing or
# load, restart the engine or count every startle object); then, four at a time (pytest-xdist: one
# run and report per worker; a scenario mostly waits on its agent, the cores were 70 % idle at three),
# whatever only runs scenarios and judges its own run: the scenarios, the mutants (each one scenario
# run), and the integration tests that run whole matrices, longest first. Each phase prints its
# slowest tests.
PARALLEL := tests/integration/test_installed.py tests/integration/test_thirdparty.py \
	tests/integration/test_candidate_image.py tests/integration/test_reproduce.py scenarios \
	tests/integration/test_mutants.py tests/integration/test_shards.py tests/integration/test_pool.py \
	tests/integration/test_profile_tools.py tests/integration/test_rollback_variants.py
test: setup mutants
	$(PYTEST) -n 2 tests/unit
	$(PYTEST) --durations=15 tests/integration $(addprefix --ignore=,$(PARALLEL))
	$(PYTEST) --durations=15 -n 4 $(PARALLEL)
	$(STARTLE) clean --check

unit:
	$(PYTEST) -n 2 tests/unit

integration: setup mutants
	$(PYTEST) tests/integration $(addprefix --ignore=,$(PARALLEL))
	$(PYTEST) -n 4 $(PARALLEL)

mutants: setup
	$(STARTLE) build --mutants

doctor:
	$(STARTLE) doctor

clean:
	$(STARTLE) clean --all

bench-center: setup
	@command -v wrk >/dev/null || apt-get install -y -qq wrk </dev/null >/dev/null
	$(PY) benchmarks/center_throughput.py

bench-report: setup
	$(PY) benchmarks/report_build.py

# Retry storms (docs/storm.md): the policy table at N = 100 in contention mode (medians of 5 seeds),
# then 10,000 simulated agents against a center back from a 10-s outage.
bench-storm: setup
	$(STARTLE) storm --mode contention --agents 100 --repeat 5 --seed 1
	$(STARTLE) storm --mode outage --outage-s 10 --outage-switch center --agents 10000 --policy full-jitter --seed 1

# The classic "Exponential Backoff And Jitter" study's setting (contention, N = 100, base 5 ms, cap 2 s, its
# five policies, 3 seeds) beside its simulator's figures and work ratios (docs/storm.md): on loopback as it
# is, with its network (|N(10, 2)| ms per hop), and with its first ceiling (base 10 ms). ~5 min each.
bench-storm-study: setup
	$(PY) benchmarks/storm_study.py --hop-delay-ms none
	$(PY) benchmarks/storm_study.py --hop-delay-ms normal:10:2
	$(PY) benchmarks/storm_study.py --hop-delay-ms normal:10:2 --base-ms 10

# The largest storm this machine carries: 20,000, 50,000 and 100,000 simulated agents after a 10-s center
# outage, the two locust workers in network namespaces of their own (docs/storm.md). 2-7 min each.
bench-storm-scale: setup
	$(PY) benchmarks/storm_scale.py --agents 20000
	$(PY) benchmarks/storm_scale.py --agents 50000
	$(PY) benchmarks/storm_scale.py --agents 100000

# The real-container cross-check: 100 reference-agent containers restarted together during a
# 45-s center outage, beside the simulation of their policy at the same N.
bench-fleet: setup
	$(STARTLE) storm --mode outage --outage-s 45 --containers 100 --seed 1

# The whole matrix (pairs included) on each real third-party agent from Debian's packages
# (fixtures/thirdparty/): every scenario judged or skipped with the missing field named.
# A real agent's real failures exit 1 (findings, and the next agent still runs); a harness error
# (exit 3) or bad input (exit 2) fails the target: every scenario must be judged or skipped.
bench-thirdparty: setup mutants
	@rc=0; for profile in tp-mosquitto tp-prometheus; do \
		$(STARTLE) run -j 3 --profile "$$profile"; code=$$?; \
		echo "bench-thirdparty: $$profile exit $$code"; [ $$code -le 1 ] || rc=$$code; \
	done; exit $$rc

# Field failures (docs/capture.md): every kind captured by the script from a misconfigured container
# and reproduced (bundle-to-verdict seconds printed), then the padded three-cause node minimised with
# two runs per candidate and its memory limit bisected (runs and wall time printed).
# The renamed reference agent (every outside name changed) through the whole matrix beside the
# original: the same verdict for every (scenario, check) both judged.
bench-renamed: setup mutants
	STARTLE_BENCH=1 $(PYTEST) -s tests/integration/test_renamed.py

bench-reproduce: setup
	STARTLE_BENCH=1 $(PYTEST) -s tests/integration/test_reproduce.py tests/integration/test_capture.py \
		| grep -o -E "(REPRODUCE|MINIMISE|CAPTURE) .*|reproduce: (REPRODUCED|NOT|PARTIAL|minimal|irrelevant|memory).*|[0-9]+ (passed|failed).*"

# Scale (docs/scale.md): the whole matrix at -j 3 with a world built per scenario, then pooled
# (wall, harness overhead per scenario: median and p90, verdicts that differ); then the pooled
# matrix repeated to count verdict flips.
bench-matrix: setup
	$(PY) benchmarks/matrix_overhead.py --jobs 3
	$(PY) benchmarks/matrix_repeats.py --repeats $${REPEATS:-20} --jobs 3

bench-before-after: setup
	$(PY) benchmarks/matrix_before_after.py --repeats 2 --jobs 3
# A second Docker engine on this machine, as a board would be reached (TCP + TLS on loopback; see
# docs/remote-engine.md): a shell with its DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH; the
# engine and everything it created are removed when the shell exits. CMD="..." runs that instead.
engine2: setup
	$(PY) -m harness.second_engine $(CMD)

# Images streamed to that second engine: cold (empty engine) and warm (all there), medians of 3.
bench-remote: setup
	$(PY) benchmarks/remote_images.py --repeats 3
