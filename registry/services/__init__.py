"""Every state change of the registry, called alike by pages, the API and tasks.

catalog: models, versions, aliases and stage moves. promotions: requests, gates, reviews,
rollback. cards: model-card sections. (Webhooks are the kernel's: mlops_site.webhooks.)
"""

from registry.services.catalog import (
    can_edit_model,
    create_model,
    delete_alias,
    move_to_stage,
    register_version,
    set_alias,
    update_model,
    update_version,
)
from registry.services.promotions import (
    approve,
    evaluate_gates,
    reject,
    request_promotion,
    request_rollback,
    rerun_gates,
    rollback_target,
    withdraw,
)

__all__ = [
    "approve",
    "can_edit_model",
    "create_model",
    "delete_alias",
    "evaluate_gates",
    "move_to_stage",
    "register_version",
    "reject",
    "request_promotion",
    "request_rollback",
    "rerun_gates",
    "rollback_target",
    "set_alias",
    "update_model",
    "update_version",
    "withdraw",
]
