"""django-q2 entry points of the experiments app: load by id, call one service."""

from django.conf import settings

from experiments import services
from experiments.models import DatasetVersion
from mlops_site import jobs


def profile_version(job_id: int) -> None:
    def work(ctx):
        version = DatasetVersion.objects.get(pk=ctx.params["version_id"])
        services.compute_profile(version, progress=ctx.progress)
        return {"version_id": version.pk, "quality": version.quality_counts()}

    jobs.run_job(job_id, work)


def clean_version(job_id: int) -> None:
    def work(ctx):
        parent = DatasetVersion.objects.get(pk=ctx.params["version_id"])
        child, created = services.apply_cleaning(
            parent, ctx.params["steps"], actor=ctx.job.created_by, progress=ctx.progress
        )
        ctx.set_target(child)
        return {"version_id": child.pk, "created": created, "sha256": child.sha256, "rows": child.row_count}

    jobs.run_job(job_id, work)


def train_run(job_id: int) -> None:
    from experiments import training
    from experiments.models import Run
    from experiments.services.training import fail_training

    def work(ctx):
        run = Run.objects.get(pk=ctx.params["run_id"])
        version = DatasetVersion.objects.get(pk=ctx.params["version_id"])
        services.begin_training(run)
        try:
            ctx.progress(2, f"Reading {version}")
            frame = services.load_frame(version)
            result = training.train(
                frame,
                version.schema,
                ctx.params["request"],
                progress=ctx.progress,
                importance_repeats=settings.TRAINING_IMPORTANCE_REPEATS,
                importance_max_rows=settings.TRAINING_IMPORTANCE_MAX_ROWS,
            )
            ctx.progress(96, "Saving the model, metrics and evaluation")
            services.record_training(run, ctx.params["request"], result)
            if run.parent_id:
                services.settle_sweep(run.parent)
        except jobs.JobSuperseded:
            raise  # a newer attempt owns the run now
        except jobs.JobCancelled:
            fail_training(run, "cancelled by the user", status=Run.Status.KILLED)
            _settle(run)
            raise
        except Exception as exc:
            fail_training(run, f"{type(exc).__name__}: {exc}")
            _settle(run)
            raise
        return {"run_id": run.pk, "metrics": result.metrics}

    jobs.run_job(job_id, work)


def _settle(run) -> None:
    if run.parent_id:
        services.settle_sweep(run.parent)
