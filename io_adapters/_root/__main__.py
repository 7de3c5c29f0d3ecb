"""``python -m inworld_realtime`` is the ``inworld-realtime`` command."""

import sys

from .io_adapters.cli import main

sys.exit(main())
