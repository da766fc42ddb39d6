"""Runners of ``python -m fastgnn train --task ...``: one module per task, each with
``add_arguments(parser)`` and ``run(args)``."""
