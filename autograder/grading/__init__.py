"""The class-scale grading command: ``python -m autograder grade ASSIGNMENT --submissions DIR``.

In the command's process:

* ``cli``: the command line, its options built from ``limits``;
* ``run``: one run over a class: oracles, jobs, the pool, gradebook, feedback, report;
* ``pool``: the worker processes, jobs in and results out (the executor a cluster engine can replace);
* ``cluster``: the same executor on a Dask cluster (``--dask``): jobs carry the submission as plain data;
* ``gradebook``: nbgrader's gradebook and the resumable journal;
* ``report``: the JSON and CSV report;
* ``feedback_html``: the feedback page of each student.

Shared by both sides:

* ``limits``: what a submission may use, each limit declared once with its default and help;
* ``jobs``: a job and its result as plain data, and the statuses.

In a grading worker (``worker``), for each job (``grader.grade``, the scale-out seam):

* ``submission``: finding, reading and validating the student's notebook;
* ``tampering``: what the student changed that the grader ignores;
* ``merge``: the cells that run (the student's, locked ones from the instructor's copy) and the graded notebook;
* ``boxes``: a scratch space and a kernel per job, the next one launched early;
* ``kernel``: a sandboxed kernel that runs the cells with nbclient under the limits;
* ``channel``: the grader's requests to that kernel, each part checked on plain data;
* ``wire``: plain data between the kernel and the grader (JSON, never pickles);
* ``sandbox``: the jail the kernel runs in, and its launcher; ``linux``: the system calls it needs.
"""

import sys

# nbformat validates with jsonschema, which imports ``rfc3987_syntax`` when it is installed (a Jupyter
# dependency brings it) and that module builds a Lark grammar at import: 1.5 s in every grading process,
# for the "iri"/"uri" string formats that no notebook schema uses.  Blocking the optional import makes
# jsonschema skip those two format checkers, nothing else.
sys.modules.setdefault("rfc3987_syntax", None)
