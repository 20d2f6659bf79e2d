"""nbgrader's configuration for the course: the repository root is the course directory.

``solutions/<assignment>/<notebook>.ipynb`` is the source (instructor side),
``exercises/<assignment>/<notebook>.ipynb`` the release (student side).  The
standard commands work from the repository root: ``nbgrader
generate_assignment``, ``autograde``, ``generate_feedback``, ``validate`` and
the formgrader.  See docs/instructors.md.

Copied into another folder, this file makes that folder the course root
(the tests grade in temporary course directories that way).
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from autograder.feedback import HideHiddenTests

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "nnref"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Feedback must not show the hidden tests: nbgrader's default feedback shows
# their source and quotes it again in the tracebacks of failed tests.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]

# A test cell has this long to finish (the hidden tests take about a second).
c.Execute.timeout = 120
