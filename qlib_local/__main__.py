import sys

from qlib_local.cli.main import main

sys.exit(main())
