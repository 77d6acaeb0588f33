# edge agent control plane: bench (desired -> reported, outbox, drain) and the fleet demo.

.PHONY: edge-control-bench edge-demo

edge-control-bench: setup
	$(PY) bench/edge_control_bench.py

# Three simulated headsets on the local stack for ~30 s; adds a section to
# demo-report/index.html at its `<!-- more-sections -->` marker (after the DSP demo, which
# comes earlier in DEMO_TARGETS).
edge-demo: setup
	$(PY) -m edge_agent.fleet_demo --out demo-report

BENCH_TARGETS += edge-control-bench
DEMO_TARGETS += edge-demo
