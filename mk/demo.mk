# DSP part of `make demo`: every noise scene at every I/O latency through the simulated
# headset; prints PASS/MISS per cell and writes demo-report/index.html + results.json.
# One BLAS thread: the sweep's 256x256 solves are far slower when threads contend.
.PHONY: dsp-demo
dsp-demo: setup
	OPENBLAS_NUM_THREADS=1 $(PY) -m dsp_c.demo --out demo-report

DEMO_TARGETS += dsp-demo
