"""`python -m dsp_c.demo`: see dsp_c.demo.cli."""

import sys

from dsp_c.demo.cli import main

try:
    sys.exit(main())
except KeyboardInterrupt:
    print("\ninterrupted: the report was not written", file=sys.stderr)
    sys.exit(130)
