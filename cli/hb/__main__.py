import sys

from hb.main import main

sys.exit(main())
