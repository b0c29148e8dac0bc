"""Allow ``python -m callflow``."""

import sys

from callflow.cli import main

sys.exit(main())
