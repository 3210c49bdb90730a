"""How the admin and the portal write dates and times: every time with its time zone's name, so a
timestamp reads the same on every page (all in ``TIME_ZONE``, see the README)."""

DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "Y-m-d"
