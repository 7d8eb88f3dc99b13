"""django-q2 entry points of monitoring: one monitor run, and the schedule that queues the due ones."""

from mlops_site import jobs


def run_monitor(job_id: int) -> None:
    from monitoring import services
    from monitoring.models import Monitor

    def work(ctx):
        monitor = Monitor.objects.get(pk=ctx.params["monitor_id"])
        report = services.run_monitor(monitor, job=ctx.job, progress=ctx.progress)
        return {"report_id": report.pk, "status": report.status, "dataset_drifted": report.dataset_drifted}

    jobs.run_job(job_id, work)


def run_due_monitors() -> int:
    from monitoring import services

    return services.run_due_monitors()
