import sys

from swarmtui.cli import main

sys.exit(main())
