"""``python -m adapters.fakes --system kingdee --port 8765``."""
import sys

from adapters.fakes.cli import main

sys.exit(main())
