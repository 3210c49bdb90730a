from django.urls import path

from fulfillment.api import views

urlpatterns = [
    path("stock/", views.StockListApi.as_view(), name="api-stock"),
]
