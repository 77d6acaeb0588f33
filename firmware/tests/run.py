# MicroPython unit-test runner for the firmware modules (runs on the Unix port or a board).
#
#   MICROPYPATH=firmware:firmware/tests:.frozen micropython firmware/tests/run.py \
#       [--list] [--vectors PATH] [SUBSTRING]
#
# Prints one line per test ("PASS module.test" / "FAIL module.test: error") and a summary
# line; exits 1 if anything failed. --list prints the test names without running them.
# The vectors default to protocol/vectors/link_frames.json (run from the repository root).
import sys

MODULES = (
    "test_codec", "test_frames", "test_inputs", "test_modes", "test_battery", "test_leds",
    "test_supervisor",
)


def main():
    import testing

    args = sys.argv[1:]
    list_only = "--list" in args
    if list_only:
        args.remove("--list")
    if "--vectors" in args:
        i = args.index("--vectors")
        testing.VECTORS_PATH = args[i + 1]
        del args[i : i + 2]
    only = args[0] if args else None
    passed = failed = 0
    for name in MODULES:
        module = __import__(name)
        for attr in sorted(dir(module)):
            if not attr.startswith("test_") or (only and only not in attr):
                continue
            label = "%s.%s" % (name, attr)
            if list_only:
                print("TEST %s" % label)
                continue
            try:
                getattr(module, attr)()
            except Exception as exc:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print("FAIL %s: %s: %s" % (label, type(exc).__name__, exc))
            else:
                passed += 1
                print("PASS %s" % label)
    if list_only:
        return
    print("SUMMARY passed=%d failed=%d" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
