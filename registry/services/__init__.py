"""Every state change of the registry, called alike by pages, the API and tasks.

catalog: models, versions, aliases and stage moves. uploads: versions from model files trained anywhere. promotions: requests, gates, reviews,
rollback. cards: model-card sections. (Webhooks are the kernel's: mlops_site.webhooks.)
"""

from registry.services.catalog import (
    can_edit_model,
    clean_tags,
    create_model,
    delete_alias,
    move_to_stage,
    register_version,
    set_alias,
    update_model,
    update_version,
)
from registry.services.promotions import (
    actions_for,
    approve,
    decide,
    evaluate_gates,
    reject,
    request_promotion,
    request_promotion_from,
    request_rollback,
    request_rollback_from,
    rerun_gates,
    rollback_target,
    withdraw,
)
from registry.services.uploads import register_run_file, upload_version

__all__ = [
    "actions_for",
    "approve",
    "can_edit_model",
    "clean_tags",
    "create_model",
    "decide",
    "delete_alias",
    "evaluate_gates",
    "move_to_stage",
    "register_run_file",
    "register_version",
    "reject",
    "request_promotion",
    "request_promotion_from",
    "request_rollback",
    "request_rollback_from",
    "rerun_gates",
    "rollback_target",
    "set_alias",
    "update_model",
    "update_version",
    "upload_version",
    "withdraw",
]
