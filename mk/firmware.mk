# firmware: MicroPython firmware for the headset MCU (ESP32-S3) and its Unix-port test build.
FIRMWARE_SOURCES := $(wildcard firmware/*.py)
FIRMWARE_BUILD := build/firmware
FIRMWARE_STUBS := micropython-esp32-esp32-generic-s3-stubs==1.29.0.post1
FIRMWARE_STUBS_STAMP := typings/.stubs-1.29.0.post1

.PHONY: firmware firmware-check flash firmware-bench firmware-vectors

# xtensawin .mpy for the board + x64 .mpy for the Unix port (the device tests load it).
$(FIRMWARE_BUILD)/esp32s3/.built $(FIRMWARE_BUILD)/x64/.built &: $(VENV)/.installed \
		$(FIRMWARE_SOURCES) firmware/tools/build.py
	$(PY) firmware/tools/build.py esp32s3 x64

firmware: $(FIRMWARE_BUILD)/esp32s3/.built $(FIRMWARE_BUILD)/x64/.built

# ESP32-S3 stubs go to typings/ (git-ignored), never into the venv: they shadow the stdlib.
$(FIRMWARE_STUBS_STAMP): | $(VENV)/.installed
	$(PIP) install -q --upgrade --target typings '$(FIRMWARE_STUBS)'
	@touch $@

# Type check against the board's API; the simulated board (Unix port only) is excluded.
firmware-check: $(FIRMWARE_STUBS_STAMP)
	cd firmware && ../$(BIN)/pyright -p pyrightconfig.json

# Copy the board build to a connected ESP32-S3: make flash PORT=/dev/ttyACM0
flash: firmware
	@test -n "$(PORT)" || { echo "usage: make flash PORT=/dev/ttyACM0" >&2; exit 2; }
	$(BIN)/mpremote connect $(PORT) fs cp $(wildcard $(FIRMWARE_BUILD)/esp32s3/*.mpy) \
		$(FIRMWARE_BUILD)/esp32s3/main.py : + reset

firmware-bench: firmware
	$(PY) bench/firmware_bench.py

# Regenerate the shared link vectors after changing protocol/link.py or the generator.
firmware-vectors: $(VENV)/.installed
	$(PY) -m protocol.vectors.make_link_frames

TEST_PREREQS += firmware firmware-check
BENCH_TARGETS += firmware-bench
LINT_TARGETS += firmware-check
