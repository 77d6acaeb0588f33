# Board selection: one module per board, chosen by the platform MicroPython runs on.
import sys


def make():
    if sys.platform in ("linux", "darwin"):
        import board_sim as impl
    else:
        import board_esp32s3 as impl
    return impl.Board()
