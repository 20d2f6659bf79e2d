"""``python -m autograder grade ASSIGNMENT --submissions DIR [...]``: see ``autograder.grading``."""

import sys

from .grading.cli import main

sys.exit(main())
