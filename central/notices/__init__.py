"""SMS notices: templates, providers (SMPP, HTTP gateways, log) and the exactly-once sender.

The outbox rows (``central.store.models.Notice``) are written by the workflow in the
decision's transaction, from the typed params of their kind (``central.notices.kinds``);
this package drains them.
"""
