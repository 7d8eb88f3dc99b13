"""django-q2 entry points of deployments."""


def check_guardrails() -> dict:
    from deployments import services

    return services.check_guardrails()


def reconcile_stages() -> dict:
    from deployments import services

    return services.reconcile_stages()
