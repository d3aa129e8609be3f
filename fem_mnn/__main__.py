import sys

from fem_mnn.cli import main

sys.exit(main())
