"""``python -m autograder grade|stats|export ...``: grading a class, its statistics, its grades out.

``grade`` is ``autograder.grading``'s command; ``stats`` and ``export`` read
the gradebook it writes (``autograder.stats``, ``autograder.export``).
"""

import argparse
import importlib
import sys

READERS = ("stats", "export")  # modules of this package, imported only when asked for
COMMANDS = {
    "grade": "grade every submission of an assignment into the gradebook",
    "stats": "per-part scores and the class's most frequent mistakes, as text or an HTML page",
    "export": "grades out: CSV, Canvas's import layout, or Gradescope results files",
}


def usage() -> str:
    lines = ["usage: python -m autograder {grade,stats,export} ...", "", "commands:"]
    lines += [f"  {name:<8}{what}" for name, what in COMMANDS.items()]
    lines += ["", "python -m autograder COMMAND --help says more about each."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in READERS:
        module = importlib.import_module(f"{__package__}.{argv[0]}")
        parser = argparse.ArgumentParser(prog=f"python -m autograder {argv[0]}",
                                         description=module.__doc__.split("\n\n")[0])
        module.add_arguments(parser)
        return module.run(parser.parse_args(argv[1:]))
    from .grading.cli import main as grade

    return grade(argv)


sys.exit(main())
