"""The seller portal, mounted at ``/portal/`` with the namespace ``portal``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from portal import auth, orders, payments, performance, requests, returns, statement, tiktok

app_name = "portal"

urlpatterns = [
    path("login/", auth.PortalLoginView.as_view(), name="login"),
    # POST only (Django's LogoutView refuses GET); then LOGOUT_REDIRECT_URL, the login page.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", orders.order_list, name="orders"),
    path("orders/<int:pk>/", orders.order_detail, name="order_detail"),
    path("orders/export/", orders.order_export, name="order_export"),
    path("performance/", performance.performance, name="performance"),
    # Buyers' cancellation and return requests waiting for the seller's answer.
    path("requests/", requests.requests_list, name="requests"),
    path("requests/cancellations/<int:pk>/approve/", requests.cancellation_approve, name="cancellation_approve"),
    path("requests/cancellations/<int:pk>/reject/", requests.cancellation_reject, name="cancellation_reject"),
    path("requests/returns/<int:pk>/approve/", requests.return_approve, name="return_approve"),
    path("requests/returns/<int:pk>/reject/", requests.return_reject, name="return_reject"),
    # Every return and where it stands (answering happens on Requests).
    path("returns/", returns.return_list, name="returns"),
    # Paying the wholesale cost: the Unpaid list and checkout, results, cards and Auto Checkout.
    path("unpaid/", payments.unpaid, name="unpaid"),
    path("unpaid/quote/", payments.unpaid_quote, name="unpaid_quote"),
    path("checkout/<int:payment_id>/", payments.checkout_result, name="checkout_result"),
    path("checkout/<int:payment_id>/refresh/", payments.checkout_refresh, name="checkout_refresh"),
    path("checkout/<int:payment_id>/cancel/", payments.checkout_cancel, name="checkout_cancel"),
    path("payment/", payments.payment_page, name="payment"),
    # The seller's ledger: payments and refunds per month, by card and by bank transfer, and its CSV.
    path("statement/", statement.statement, name="statement"),
    path("statement/download/", statement.statement_download, name="statement_download"),
    path("payment/auto-checkout/", payments.auto_checkout, name="auto_checkout"),
    path("payment/cards/setup/", payments.card_setup, name="card_setup"),
    path("payment/cards/add/", payments.card_add, name="card_add"),
    path("payment/cards/<str:card_id>/default/", payments.card_default, name="card_default"),
    path("payment/cards/<str:card_id>/remove/", payments.card_remove_view, name="card_remove"),
    # TikTok shops: connect (TikTok's OAuth; the callback is the app's redirect URL at TikTok), state, disconnect.
    path("tiktok/", tiktok.tiktok_page, name="tiktok"),
    path("tiktok/connect/", tiktok.tiktok_connect, name="tiktok_connect"),
    path("tiktok/callback/", tiktok.tiktok_callback, name="tiktok_callback"),
    path("tiktok/<int:pk>/disconnect/", tiktok.tiktok_disconnect, name="tiktok_disconnect"),
]
