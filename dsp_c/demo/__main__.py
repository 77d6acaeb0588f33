"""`python -m dsp_c.demo`: see dsp_c.demo.cli."""

import sys

from dsp_c.demo.cli import main

sys.exit(main())
