"""django-q2 entry points of the experiments app: load by id, call one service."""

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
