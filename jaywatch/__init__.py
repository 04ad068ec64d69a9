"""jaywatch: shared pieces of the edge and central roles.

Only the wire contract (:mod:`jaywatch.wire`) and the command-line entry point live
here. ``edge`` never imports ``central`` and ``central`` never imports ``edge``.
"""

__version__ = "0.1.0"
