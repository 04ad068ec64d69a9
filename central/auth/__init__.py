"""Who is calling and what they may do — one place for the API and the console pages.

``roles``: the roles and the table of which role may do what (``may``, ``roles_for``).
``sessions``: the session cookie, token lookup and the CSRF comparison both front-ends use.
The HTTP adapters (``central/api/deps.py``: 401/403 JSON; ``central/web/auth.py``: login
redirect, 403 page) only translate their answers.
"""
