from django.core.management.base import BaseCommand

from mlops_site import demo


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo users and data. Safe to run again."

    def handle(self, *args, **options):
        demo.run(lambda line: self.stdout.write(line))
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
