"""Partner API for returns (R11)."""

urlpatterns: list = []
