import sys

from hpsearch.cli import main

sys.exit(main())
