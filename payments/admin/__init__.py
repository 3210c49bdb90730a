"""Payments in the console, for Finance: charges, refunds, the checkout emails sellers got, and the seller page.

Everything here is read-only. The two things staff can do, refund a payment
and switch a seller's Auto Checkout, each have a confirmation page that calls
the service in ``payments.services``, which checks the permission and the
rules; the admin never writes these models itself.
"""

from payments.admin import charges, emails  # noqa: F401 - registers the model admins
from payments.admin.sellers import SellerPaymentsAdminMixin

__all__ = ["SellerPaymentsAdminMixin"]
