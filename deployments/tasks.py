"""django-q2 entry points of deployments."""


def check_guardrails() -> dict:
    from deployments import services

    return services.check_guardrails()
