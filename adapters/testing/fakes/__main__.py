"""``python -m invoice_archive_adapters.testing.fakes --system kingdee --port 8765``."""
import sys

from invoice_archive_adapters.testing.fakes.cli import main

sys.exit(main())
