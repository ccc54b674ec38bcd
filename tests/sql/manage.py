#!/usr/bin/env python
"""Only for `migrail sql` to find the settings of the sqlshop fixture (tests/sql.rs runs
Django through reference.py, whose settings match these)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sqlsettings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
