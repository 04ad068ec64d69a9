"""jaywatch_app: the application layer above both roles.

The ``jaywatch`` command (:mod:`jaywatch_app.cli`), ``jaywatch demo`` and the demo's
embedded broker. Only this package may import both ``edge`` and ``central``; the contract
package ``jaywatch`` imports neither (checked by import-linter, tests/test_layers.py).
"""
