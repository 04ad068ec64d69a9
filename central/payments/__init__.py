"""Payments through a provider: the provider interface (``base``), its plugins
(``hosted``; more through the ``jaywatch.payment_providers`` entry-point group, each a
callable taking ``CheckoutProviderSettings``), bank statements (``statements``) and the
local fake provider for tests and the demo (``fake``). What a payment *does* to a fine
is central/workflow/payments.py."""

from __future__ import annotations

from importlib.metadata import entry_points

from central.config import CheckoutProviderSettings, PaymentsSettings
from central.payments.base import CheckoutProvider


def _kinds() -> dict[str, object]:
    from central.payments.hosted import HostedCheckout

    kinds: dict[str, object] = {"hosted": HostedCheckout}
    for ep in entry_points(group="jaywatch.payment_providers"):
        kinds.setdefault(ep.name, ep)
    return kinds


def load_provider(settings: PaymentsSettings) -> CheckoutProvider | None:
    """The configured checkout provider, or None; ValueError naming the key if the kind
    is unknown or its secrets are unreadable."""
    p: CheckoutProviderSettings | None = settings.provider
    if p is None:
        return None
    kinds = _kinds()
    factory = kinds.get(p.kind)
    if factory is None:
        raise ValueError(f"payments.provider.kind: {p.kind!r}: expected one of {sorted(kinds)}")
    if hasattr(factory, "load"):  # an entry point
        factory = factory.load()
    return factory(p)  # type: ignore[operator,no-any-return]
