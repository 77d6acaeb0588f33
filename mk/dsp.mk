# dsp_c: the C DSP core and its CFFI binding.
DSP_HEADERS := $(wildcard dsp_c/include/*.h)
DSP_SOURCES := $(wildcard dsp_c/src/*.c)
DSP_EXT := dsp_c/.built

# Rebuild the extension in place whenever a C file, a header or the build script changes
# (--force: setuptools itself only compares the .c files).
$(DSP_EXT): $(VENV)/.installed $(DSP_HEADERS) $(DSP_SOURCES) $(wildcard dsp_c/src/*.h) \
		dsp_c/_build.py
	$(PY) setup.py -q build_ext --inplace --force
	@touch $@

.PHONY: dsp-build
dsp-build: $(DSP_EXT)

SETUP_PREREQS += $(DSP_EXT)

# ---- C unit tests: plain C programs under AddressSanitizer + UndefinedBehaviorSanitizer ----
# Built twice: with the vector-extension kernels and with the portable C99 fallback.
DSP_STRICT := -std=c99 -Wall -Wextra -Werror
DSP_CTEST_FLAGS := $(DSP_STRICT) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all
DSP_CTEST_DIR := build/dsp-ctest
DSP_CTEST_SOURCES := $(wildcard dsp_c/tests_c/test_*.c)
DSP_CTEST_NAMES := $(patsubst dsp_c/tests_c/%.c,%,$(DSP_CTEST_SOURCES))
DSP_SRC_NAMES := $(patsubst dsp_c/src/%.c,%,$(DSP_SOURCES))
DSP_PRIVATE_HEADERS := $(wildcard dsp_c/src/*.h)

# $(1): variant directory, $(2): extra compiler flags
define DSP_CTEST_VARIANT
DSP_CTEST_OBJS_$(1) := $(addprefix $(DSP_CTEST_DIR)/$(1)/obj/,$(addsuffix .o,$(DSP_SRC_NAMES)))
DSP_CTEST_BINS += $(addprefix $(DSP_CTEST_DIR)/$(1)/,$(DSP_CTEST_NAMES))

$(DSP_CTEST_DIR)/$(1)/obj/%.o: dsp_c/src/%.c $(DSP_HEADERS) $(DSP_PRIVATE_HEADERS)
	@mkdir -p $$(@D)
	gcc $(DSP_CTEST_FLAGS) $(2) -Idsp_c/include -c $$< -o $$@

$(DSP_CTEST_DIR)/$(1)/%: dsp_c/tests_c/%.c dsp_c/tests_c/ctest.h $$(DSP_CTEST_OBJS_$(1))
	gcc $(DSP_CTEST_FLAGS) $(2) -Idsp_c/include -Idsp_c/src -Idsp_c/tests_c $$< \
		$$(DSP_CTEST_OBJS_$(1)) -lm -o $$@

.SECONDARY: $$(DSP_CTEST_OBJS_$(1))
endef

# The vector kernels are as wide as the target's registers (4 floats for baseline x86-64 and
# NEON, 8 with AVX, 16 with AVX-512): each width this CPU can run gets its own variant.
DSP_CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
DSP_CTEST_BINS :=
$(eval $(call DSP_CTEST_VARIANT,vector,))
$(eval $(call DSP_CTEST_VARIANT,portable,-DANC_NO_VECTOR_EXT))
ifneq ($(filter avx2,$(DSP_CPU_FLAGS)),)
$(eval $(call DSP_CTEST_VARIANT,avx2,-mavx2 -mfma))
endif
ifneq ($(filter avx512f,$(DSP_CPU_FLAGS)),)
$(eval $(call DSP_CTEST_VARIANT,avx512,-mavx512f -mfma))
endif

.PHONY: dsp-ctest
dsp-ctest: $(DSP_CTEST_BINS)
	@for t in $(DSP_CTEST_BINS); do printf '%-9s' "$$(basename $$(dirname $$t))"; \
		ASAN_OPTIONS=detect_leaks=1 $$t || exit 1; done

TEST_PREREQS += dsp-ctest

# ---- cross build for the headset's application processor (aarch64 Linux) ----
CROSS_CC := aarch64-linux-gnu-gcc
CROSS_DIR := build/cross
CROSS_OBJS := $(patsubst dsp_c/src/%.c,$(CROSS_DIR)/%.o,$(DSP_SOURCES))

.PHONY: cross cross-toolchain
cross-toolchain:
	@tools/ensure-system-packages.sh gcc-aarch64-linux-gnu libc6-dev-arm64-cross

$(CROSS_DIR)/%.o: dsp_c/src/%.c $(DSP_HEADERS) $(wildcard dsp_c/src/*.h) | cross-toolchain
	@mkdir -p $(@D)
	$(CROSS_CC) $(DSP_STRICT) -O2 -Idsp_c/include -c $< -o $@

$(CROSS_DIR)/libanc_dsp.a: $(CROSS_OBJS)
	aarch64-linux-gnu-ar rcs $@ $^

cross: $(CROSS_DIR)/libanc_dsp.a
	@echo "aarch64 objects and libanc_dsp.a in $(CROSS_DIR)/"

# the objects are intermediate files of pattern rules: keep them between runs
.SECONDARY: $(CROSS_OBJS)

# ---- C lint: every C file, host compiler, warnings are errors ----
# On x86-64 hosts also at the AVX2 and AVX-512 vector widths (compiling needs no such CPU).
DSP_LINT_X86_WIDTHS := $(if $(filter x86_64,$(shell uname -m)),'-mavx2 -mfma' '-mavx512f -mfma')
.PHONY: dsp-lint
dsp-lint:
	gcc $(DSP_STRICT) -fsyntax-only -Idsp_c/include -Idsp_c/src -Idsp_c/tests_c \
		$(DSP_SOURCES) $(DSP_CTEST_SOURCES)
	gcc $(DSP_STRICT) -fsyntax-only -DANC_NO_VECTOR_EXT -Idsp_c/include $(DSP_SOURCES)
	@for flags in $(DSP_LINT_X86_WIDTHS); do \
		echo "gcc $(DSP_STRICT) -fsyntax-only $$flags ..."; \
		gcc $(DSP_STRICT) -fsyntax-only $$flags -Idsp_c/include $(DSP_SOURCES) || exit 1; \
	done

LINT_TARGETS += dsp-lint

# ---- benchmark: our kernels against cmsisdsp, padasip, pyroomacoustics ----
.PHONY: dsp-bench
dsp-bench: $(DSP_EXT)
	$(PY) bench/dsp_bench.py

BENCH_TARGETS += dsp-bench
