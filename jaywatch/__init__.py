"""jaywatch: the contract between the edge and central roles.

Messages, topics and signing (:mod:`jaywatch.wire`), device keys, MQTT options, the
gallery file format and the broker ACL. It imports nothing of ``edge``, ``central`` or
the app package ``jaywatch_app`` (which holds the CLI and the demo); ``edge`` never
imports ``central`` and ``central`` never imports ``edge``. tests/test_layers.py checks
all of this with import-linter.
"""

__version__ = "0.1.0"
