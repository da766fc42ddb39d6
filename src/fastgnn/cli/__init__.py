"""The command line: ``python -m fastgnn <command>`` (or the ``fastgnn`` script).

``fastgnn train`` runs a task (:mod:`fastgnn.cli.node`, :mod:`fastgnn.cli.link`,
:mod:`fastgnn.cli.graph`); bad input is one line on stderr naming the option
or file, with exit status 2.
"""
from fastgnn.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
