"""The operator console: Django's admin with queue counts on the index page."""

from django.contrib import admin


class BackofficeAdminSite(admin.AdminSite):
    site_header = "Back-office"
    site_title = "Back-office"
    index_title = "Operations"
