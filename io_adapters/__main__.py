"""``python -m io_adapters`` is the ``inworld-realtime`` command."""

import sys

from .cli import main

sys.exit(main())
