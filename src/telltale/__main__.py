import sys

from telltale.cli import main

sys.exit(main())
