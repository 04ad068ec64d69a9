"""Domain workflow as plain functions over a Session.

No function here commits: the caller owns the transaction (``with factory.begin() as s``),
so a decision, its fine, ledger entry, notice, display entry and audit entry commit or
roll back together.
"""
