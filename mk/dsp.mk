# dsp_c: the C DSP core and its CFFI binding.
DSP_HEADERS := $(wildcard dsp_c/include/*.h)
DSP_SOURCES := $(wildcard dsp_c/src/*.c)
DSP_EXT := dsp_c/.built

# Rebuild the extension in place whenever a C file or the build script changes.
$(DSP_EXT): $(VENV)/.installed $(DSP_HEADERS) $(DSP_SOURCES) dsp_c/_build.py
	$(PY) setup.py -q build_ext --inplace
	@touch $@

.PHONY: dsp-build
dsp-build: $(DSP_EXT)

SETUP_PREREQS += $(DSP_EXT)
