"""``python -m signer``: the same as the ``tiktok-signer`` command."""

import sys

from signer.cli import main

sys.exit(main())
