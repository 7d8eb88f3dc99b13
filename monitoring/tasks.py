"""django-q2 entry points of monitoring: one monitor run, the schedule that queues the due ones, a retraining."""

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


def retrain(job_id: int) -> None:
    from monitoring import services
    from monitoring.models import Retraining

    def work(ctx):
        retraining = services.run_retraining(
            Retraining.objects.get(pk=ctx.params["retraining_id"]), progress=ctx.progress
        )
        if retraining.status == Retraining.Status.FAILED:
            raise RuntimeError(retraining.error)
        return {"retraining_id": retraining.pk, "status": retraining.status, "run_id": retraining.run_id}

    jobs.run_job(job_id, work)
