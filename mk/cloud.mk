# cloud: the local AWS IoT stack (anc-local), the SAM template and its Lambdas.
CLOUD_PLUGIN_SRC := cloud/local/broker_plugin/anc_identity.c
CLOUD_PLUGIN := build/cloud/anc_identity.so

.PHONY: cloud-system-packages cloud-plugin cloud-bench cloud-lint

cloud-system-packages:
	@tools/ensure-system-packages.sh mosquitto mosquitto-dev libmosquitto-dev libssl-dev gcc

# The broker plugin that refuses a client id other than the certificate's thing name.
$(CLOUD_PLUGIN): $(CLOUD_PLUGIN_SRC) | cloud-system-packages
	@mkdir -p $(dir $@)
	gcc -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -o $@ $< -lcrypto

cloud-plugin: $(CLOUD_PLUGIN)

cloud-bench: setup $(CLOUD_PLUGIN)
	$(PY) bench/local_stack_bench.py

cloud-lint: setup
	$(BIN)/cfn-lint cloud/template.yaml

SETUP_PREREQS += $(CLOUD_PLUGIN)
BENCH_TARGETS += cloud-bench
LINT_TARGETS += cloud-lint
