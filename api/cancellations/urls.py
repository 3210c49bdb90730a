"""Partner API for cancellation requests (R5), under ``/api/v1/``."""

from django.urls import path

from api.cancellations import views

urlpatterns = [
    path(
        "cancellation-requests/",
        views.CancellationRequestCollectionApi.as_view(),
        name="api-cancellation-requests",
    ),
    path(
        "cancellation-requests/<int:request_id>/",
        views.CancellationRequestDetailApi.as_view(),
        name="api-cancellation-request-detail",
    ),
    path(
        "cancellation-requests/<int:request_id>/withdraw/",
        views.CancellationRequestWithdrawApi.as_view(),
        name="api-cancellation-request-withdraw",
    ),
]
