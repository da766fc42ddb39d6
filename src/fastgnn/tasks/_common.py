"""Private helpers shared by the task runners of ``python -m fastgnn train --task ...``."""
import sys


def add_option(parser, *flags, **kwargs):
    """Add an option unless the parser already has it (the train command shares options across tasks)."""
    if any(flag in parser._option_string_actions for flag in flags):
        return
    parser.add_argument(*flags, **kwargs)


def option(args, name, default):
    """``args.name``, or ``default`` when it is missing or None."""
    value = getattr(args, name, None)
    return default if value is None else value


def run_task(task, run, args, out, *, flush=False):
    """``run(args, out)`` with bad input reported as one line on stderr; returns the exit status (2 on bad input)."""
    out = sys.stdout if out is None else out
    try:
        return run(args, out)
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"fastgnn train --task {task}: error: {error}", file=sys.stderr, flush=flush)
        return 2
