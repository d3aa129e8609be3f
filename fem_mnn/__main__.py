"""``python -m fem_mnn``: the ``fem-mnn`` command line (:func:`fem_mnn.cli.main`)."""

import sys

from fem_mnn.cli import main

sys.exit(main())
