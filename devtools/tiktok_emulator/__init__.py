"""A small, stateful TikTok Shop emulator for development and tests, in the way localstripe serves Stripe.

Standard library only, and never imported by the application: the tests start it
as a subprocess (``python -m devtools.tiktok_emulator --port N``) and ``make run``
starts it beside the web server. It speaks TikTok Shop's Partner API as the
``tiktok`` app uses it:

* ``/oauth/authorize`` (a page that sends the seller back with a code),
  ``/api/v2/token/get`` and ``/api/v2/token/refresh`` on the authorisation side;
* ``/authorization/202309/shops``, ``/order/202309/orders`` (detail),
  ``/order/202309/orders/search``, ``/return_refund/202309/cancellations/search``
  and ``/return_refund/202309/returns/search``, each signed and token-checked
  exactly as TikTok does, refusing bad requests with TikTok's error codes;
* signed webhooks to the configured URL when anything changes;
* a control API under ``/_emulator/`` to create shops and orders, pay them, ask
  for cancellations and returns, move statuses and time, inject failures.

State lives in memory and is lost when the process stops. ``server.ROUTES`` is
the table of endpoints: a new TikTok endpoint is one handler added to it.
"""
