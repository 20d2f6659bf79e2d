"""What the student changed that the grader ignores, said plainly for the report's ``warnings``.

Locked cells (tests, given code) are always taken from the instructor's
copy and test cells never run in the sandbox, so deleting, duplicating,
moving or editing them, or editing their points, changes no score; the
report says it happened so that an instructor can follow up.
"""

from __future__ import annotations

from .. import notebooks

EXTRA_FILES_SHOWN = 10


def notes(student: dict, release: dict, extra_files: list[str] = ()) -> list[str]:
    """The warnings for ``student``'s notebook against the ``release``, and the ``extra_files`` of the folder."""
    found, locked = [], notebooks.locked_cells(release)
    seen = []
    for cell in student["cells"]:
        gid = notebooks.grade_id(cell)
        if gid in locked:
            seen.append(gid)
            original = locked[gid]
            if notebooks.cell_text(cell) != notebooks.cell_text(original):
                found.append(f"locked cell {gid} was edited; the instructor's version was used")
            points = notebooks.nbgrader(original).get("points")
            if points is not None and notebooks.nbgrader(cell).get("points") != points:
                found.append(f"the points of {gid} were changed to {notebooks.nbgrader(cell).get('points')!r}; "
                             f"they are {points:g}")
    for gid in locked:
        count = seen.count(gid)
        if count == 0:
            found.append(f"locked cell {gid} was deleted; it was graded from the instructor's copy")
        elif count > 1:
            found.append(f"locked cell {gid} appears {count} times; it was graded once")
    order = list(dict.fromkeys(seen))
    if order != [gid for gid in locked if gid in order]:
        found.append("locked cells were moved; they were graded in the instructor's order")
    if extra_files:
        more = len(extra_files) - EXTRA_FILES_SHOWN
        found.append(f"ignored extra files in the submission: {', '.join(extra_files[:EXTRA_FILES_SHOWN])}"
                     + (f" and {more} more" if more > 0 else ""))
    return found
