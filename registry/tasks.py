"""django-q2 entry points of the registry: load by id, call one service."""

from mlops_site import jobs
from registry.models import PromotionRequest


def run_gates(job_id: int) -> None:
    from registry.services import promotions

    def work(ctx):
        promotion = PromotionRequest.objects.get(pk=ctx.params["request_id"])
        try:
            promotion = promotions.evaluate_gates(promotion, progress=ctx.progress)
        except jobs.JobSuperseded:
            raise  # a newer attempt owns the request now
        except Exception as exc:  # cancelled or crashed: the request must not stay "checking" for ever
            promotions.gates_crashed(promotion, f"{type(exc).__name__}: {exc}")
            raise
        return {"request_id": promotion.pk, "gates": promotion.gates_status}

    jobs.run_job(job_id, work)
