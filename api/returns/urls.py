"""Partner API for returns (R11), under ``/api/v1/``."""

from django.urls import path

from api.returns import views

urlpatterns = [
    path("orders/<int:order_id>/returns/", views.OrderReturnCreateApi.as_view(), name="api-order-returns"),
    path("returns/", views.ReturnListApi.as_view(), name="api-returns"),
    path("returns/<int:return_id>/", views.ReturnDetailApi.as_view(), name="api-return-detail"),
    path("returns/<int:return_id>/events/", views.ReturnEventApi.as_view(), name="api-return-events"),
]
