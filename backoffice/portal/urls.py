"""The seller portal, mounted at ``/portal/`` with the namespace ``portal``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from backoffice.portal import views

app_name = "portal"

urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    # POST only (Django's LogoutView refuses GET); then LOGOUT_REDIRECT_URL, the login page.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("performance/", views.performance, name="performance"),
]
