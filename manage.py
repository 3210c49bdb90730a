#!/usr/bin/env python
import os
import sys

# Commands that only read the code (models and migrations) and use no secret. Like Django, which
# asks for SECRET_KEY only where something uses it, they run on a bare checkout: for them alone an
# unset DEBUG means development, so settings do not demand production secrets.
CODE_ONLY_COMMANDS = {"makemigrations", "sqlmigrate"}
# Commands that Django runs without settings.
NO_SETTINGS_COMMANDS = {"help", "--help", "-h", "version", "--version"}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in CODE_ONLY_COMMANDS:
        os.environ.setdefault("DEBUG", "true")
    # Imported only now: DEBUG above must be in the environment before settings are read.
    from django.conf import settings  # noqa: PLC0415
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    if command not in NO_SETTINGS_COMMANDS:
        try:
            settings.INSTALLED_APPS  # noqa: B018 - load settings now: Django would hide why they refused behind a later error
        except ImproperlyConfigured as exc:
            sys.exit(f"Settings refused to load: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
