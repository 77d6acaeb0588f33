# Entry point (runs at boot on the board; `import main` on the Unix port).
import sys

import app
import board

_board = board.make()
try:
    app.run(_board)
except Exception as exc:  # report on the board's log, never on the link
    _board.log("fatal: %r" % (exc,))
    sys.exit(70)
