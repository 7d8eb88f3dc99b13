"""`manage.py verify_storage`: every stored file is in the storage and hashes to what its row recorded.

Run it after restoring a backup into a fresh database and bucket, or after moving files to another store.
Exit status 1 when any file is missing or differs.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mlops_site import stored_files


class Command(BaseCommand):
    help = "Check that every stored file (datasets, artifacts, model files) is present and matches its sha256."

    def handle(self, *args, **options):
        checked, problems = 0, []
        for label, pk, name, problem in stored_files.verify():
            checked += 1
            if problem:
                problems.append(f"{label} {pk}: {name}: {problem}")
        for line in problems:
            self.stderr.write(line)
        self.stdout.write(f"{checked} stored files checked, {len(problems)} missing or different.")
        if problems:
            raise CommandError(f"{len(problems)} stored files are missing or differ from their recorded sha256.")
