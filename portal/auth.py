"""Logging in to the portal, and the one check every page makes: the account belongs to a seller."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from core.actors import Actor
from core.errors import DomainError
from portal.forms import PortalAuthenticationForm
from portal.selectors import portal_seller_for_user
from returns.selectors import seller_requests_waiting


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True


def seller_required(view):
    """Require a logged-in user with a seller; pass that seller to the view.

    A logged-in account without a seller (e.g. staff coming from the admin)
    gets a page saying so, with status 403, instead of an empty portal.
    """

    @wraps(view)
    @login_required
    @never_cache
    def wrapper(request, *args, **kwargs):
        seller = portal_seller_for_user(request.user)
        if seller is None:
            return render(request, "portal/no_seller.html", status=403)
        # The Requests tab's badge on every page: buyers' requests waiting for this seller's answer.
        request.portal_requests_waiting = seller_requests_waiting(seller=seller)
        return view(request, seller, *args, **kwargs)

    return wrapper


def portal_actor(request) -> Actor:
    """The logged-in seller user, as the actor of a service call."""
    return Actor.for_user(request.user)


# Refusals whose service wording is written for staff or partners, in the seller's words.
FRIENDLY_ERRORS = {
    "in_progress": "A payment for one of these orders is already under way. Wait a moment, then look again.",
    "permission_denied": "This login cannot do that for this shop.",
    "card_not_found": "That card is no longer on file. Choose another card.",
    "setup_not_found": "That card could not be found. Enter the card again.",
    "already_shipped": "The parcel has already been labelled, so the order can no longer be cancelled.",
    "response_window_over": "The time to answer is over: the marketplace approves it automatically.",
}


def error_text(exc: DomainError) -> str:
    """What a refused action says to the seller: words, never a code."""
    return FRIENDLY_ERRORS.get(exc.code, exc.detail)
