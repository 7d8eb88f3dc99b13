"""django-q2 entry points of the shared kernel: thin wrappers around services and jobs."""

from mlops_site import idempotency, jobs, selfcheck


def run_selfcheck(job_id: int) -> None:
    jobs.run_job(job_id, selfcheck.run)


def sweep_stale_jobs() -> dict[str, int]:
    return jobs.sweep_stale_jobs()


def sweep_idempotency_keys() -> int:
    return idempotency.sweep_expired()
