"""Only here because CFFI's build hook (`cffi_modules`) is a setup() argument."""
from setuptools import setup

setup(cffi_modules=["dsp_c/_build.py:ffibuilder"])
