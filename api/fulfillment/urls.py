from django.urls import path

from api.fulfillment import views

urlpatterns = [
    path("stock/", views.StockListApi.as_view(), name="api-stock"),
    path("carriers/", views.CarrierListApi.as_view(), name="api-carriers"),
    path(
        "orders/<int:order_id>/shipment-events/",
        views.OrderShipmentEventApi.as_view(),
        name="api-order-shipment-events",
    ),
]
