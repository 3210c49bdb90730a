"""Accounts in the console: sellers and their portal users, partners, their API keys and webhooks.

Saving a form here calls the services in ``backoffice.services`` instead of
``Model.save()``, so the admin and the provisioning commands check the same
rules. Each module registers its own models:

- ``sellers``: sellers and their portal users;
- ``partners``: partners, their API keys and webhook settings;
- ``webhooks``: the webhook outbox (read-only, with redelivery).
"""

from backoffice.admin.partners import MANAGE_KEYS_PERMISSION, PartnerAdmin, PartnerApiKeyAdmin
from backoffice.admin.sellers import SellerAdmin
from backoffice.admin.webhooks import REDELIVER_BULK_LIMIT, REDELIVER_PERMISSION, WebhookEventAdmin

__all__ = [
    "MANAGE_KEYS_PERMISSION",
    "REDELIVER_BULK_LIMIT",
    "REDELIVER_PERMISSION",
    "PartnerAdmin",
    "PartnerApiKeyAdmin",
    "SellerAdmin",
    "WebhookEventAdmin",
]
