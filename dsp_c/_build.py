"""CFFI (API mode) build of the C DSP core: every public header is the cdef, every source
is compiled.

Run by setuptools through `cffi_modules` (see setup.py), or directly: `python dsp_c/_build.py`.
Public headers are written so that `cdef` can read them once preprocessor lines are dropped.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INCLUDE = HERE / "include"
SOURCES = sorted((HERE / "src").glob("*.c"))


def _ordered_headers() -> list[Path]:
    """Public headers, each after the headers it includes (cdef needs types declared first)."""
    found = {h.name: h for h in sorted(INCLUDE.glob("anc_*.h"))}
    ordered: list[Path] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in stack:
            raise RuntimeError(f"header include cycle: {' -> '.join(stack + (name,))}")
        header = found[name]
        if header in ordered:
            return
        for dep in re.findall(r'^\s*#\s*include\s+"(anc_[^"]+\.h)"', header.read_text(), re.M):
            if dep in found:
                visit(dep, stack + (name,))
        ordered.append(header)

    for name in found:
        visit(name, ())
    return ordered


HEADERS = _ordered_headers()


def _cdef_text(header: Path) -> str:
    """Header text without preprocessor lines and C++ guards, which cdef cannot parse."""
    lines = []
    for line in header.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or stripped in ('extern "C" {', "}  /* extern \"C\" */"):
            continue
        lines.append(line)
    return re.sub(r"/\*.*?\*/", "", "\n".join(lines), flags=re.S)


def _compile_args() -> list[str]:
    # -std=c99 turns FMA contraction off; the kernels want it (results stay within float32
    # rounding). -fno-math-errno lets sqrtf inline; isfinite() still works (no -ffast-math).
    args = ["-std=c99", "-O3", "-Wall", "-Wextra", "-ffp-contract=fast", "-fno-math-errno"]
    # Built on the machine that runs it; ANC_PORTABLE=1 gives a generic binary for packaging.
    if os.environ.get("ANC_PORTABLE") != "1" and platform.machine() in ("x86_64", "AMD64"):
        args.append("-march=native")
    return args


ffibuilder = FFI()
ffibuilder.cdef("\n".join(_cdef_text(h) for h in HEADERS))
ffibuilder.set_source(
    "dsp_c._anc_cffi",
    "\n".join(f'#include "{h.name}"' for h in HEADERS),
    sources=[os.path.relpath(s, ROOT) for s in SOURCES],
    include_dirs=[os.path.relpath(INCLUDE, ROOT)],
    extra_compile_args=_compile_args(),
)

if __name__ == "__main__":
    os.chdir(ROOT)
    ffibuilder.compile(verbose=True)
