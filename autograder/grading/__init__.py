"""The class-scale grading command: ``python -m autograder grade ASSIGNMENT --submissions DIR``.

* ``sandbox``: the limits and isolation a student kernel runs under;
* ``wire``: plain data between the student kernel and the grader (JSON, never pickles);
* ``runner``: executes one notebook with nbclient and asks its kernel for results;
* ``job``: one submission = one independent job with a plain-data result (the scale-out seam);
* ``gradebook``: nbgrader's gradebook and the resumable journal;
* ``report``: the JSON and CSV report;
* ``feedback_html``: the feedback page of each student;
* ``cli``: the command line.
"""

import sys

# nbformat validates with jsonschema, which imports ``rfc3987_syntax`` when it is installed (a Jupyter
# dependency brings it) and that module builds a Lark grammar at import: 1.5 s in every grading process,
# for the "iri"/"uri" string formats that no notebook schema uses.  Blocking the optional import makes
# jsonschema skip those two format checkers, nothing else.
sys.modules.setdefault("rfc3987_syntax", None)
