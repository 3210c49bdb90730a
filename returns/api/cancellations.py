"""Partner API for cancellation requests (R5)."""

urlpatterns: list = []
