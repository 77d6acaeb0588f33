# edge_agent audio plane: the real-time loop benchmark (bench/edge_loop_bench.py).
# 60 s of the loop in its own process + 20 s for each in-process peer + an hour of
# detector input (about 4-5 minutes in all); results in bench/results/edge_loop.json.
.PHONY: edge-loop-bench
edge-loop-bench: setup
	$(PY) bench/edge_loop_bench.py

BENCH_TARGETS += edge-loop-bench
