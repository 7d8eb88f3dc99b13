#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:  # the supervisor runs without Django (mlops_site/supervisor.py)
        from mlops_site import supervisor

        sys.exit(supervisor.main(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
