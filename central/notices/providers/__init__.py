"""SMS providers behind one interface (:class:`SmsProvider`), chosen by config."""

from __future__ import annotations

from central.notices.config import (
    HttpGatewaySettings,
    LogSettings,
    NoticesConfig,
    SmppSettings,
    TwilioSettings,
)
from central.notices.providers.base import (
    DeliveryReceipt,
    MaybeSent,
    NotSent,
    ProviderError,
    SmsProvider,
    Submission,
)

__all__ = [
    "DeliveryReceipt",
    "MaybeSent",
    "NotSent",
    "ProviderError",
    "SmsProvider",
    "Submission",
    "create_provider",
]


def create_provider(config: NoticesConfig) -> SmsProvider:
    """The provider named by ``config.provider.kind`` (imports only what it needs)."""
    p = config.provider
    if isinstance(p, SmppSettings):
        from central.notices.providers.smpp import SmppProvider

        return SmppProvider(p, max_parts=config.max_parts)
    if isinstance(p, HttpGatewaySettings):
        from central.notices.providers.http import HttpGatewayProvider

        return HttpGatewayProvider(p)
    if isinstance(p, TwilioSettings):
        from central.notices.providers.http import TwilioProvider

        return TwilioProvider(p)
    assert isinstance(p, LogSettings)
    from central.notices.providers.log import LogProvider

    return LogProvider()
