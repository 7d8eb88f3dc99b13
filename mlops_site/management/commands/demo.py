from django.core.management.base import BaseCommand

from mlops_site import demo


class Command(BaseCommand):
    help = "Create (or bring up to date) the demo users and data. Safe to run again."

    def handle(self, *args, **options):
        demo.run(lambda line: self.stdout.write(line))
        state = demo.progress()
        if state.ready:
            self.stdout.write(self.style.SUCCESS("Demo data ready."))
        else:
            # Not "ready": the worker trains, registers, deploys and monitors after the site starts.
            self.stdout.write(state.summary().replace("still being prepared", "queued for the worker"))
            self.stdout.write(
                "`manage.py serve` prints “Demo data ready.” when it is done; the dashboard shows progress."
            )
