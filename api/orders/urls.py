from django.urls import path

from api.orders import views

urlpatterns = [
    path("ping/", views.PingApi.as_view(), name="api-ping"),
    path("orders/", views.OrderCollectionApi.as_view(), name="api-orders"),
    path("orders/<int:order_id>/", views.OrderDetailApi.as_view(), name="api-order-detail"),
    path("orders/<int:order_id>/buyer-payment/", views.OrderBuyerPaymentApi.as_view(), name="api-order-buyer-payment"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelApi.as_view(), name="api-order-cancel"),
]
