"""``{{ amount|money }}``: an amount stored in minor units, shown as money (``core.money``)."""

from django import template

from core.money import money

register = template.Library()
register.filter("money", money)
