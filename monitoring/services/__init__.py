"""Every state change of monitoring, called alike by pages, the API and tasks.

monitors: monitors and their drift reports. alerts: alert rules, alerts and their notifications.
retraining: retraining policies and the loop alert → run → version → promotion request.
Import from here: `from monitoring import services`.
"""

from monitoring.services.alerts import (
    RULE_FIELDS,
    acknowledge,
    check_rule,
    create_rule,
    delete_rule,
    evaluate,
    resolve,
    update_rule,
)
from monitoring.services.monitors import (
    MONITOR_FIELDS,
    check_settings,
    compare_versions,
    ensure_monitor,
    kinds_of,
    request_run,
    run_due_monitors,
    run_monitor,
    update_monitor,
    window_values,
)
from monitoring.services.retraining import (
    POLICY_FIELDS,
    on_alert,
    patch_policy,
    policy_of,
    policy_values,
    put_policy,
    retrain_now,
    run_due_policies,
    run_retraining,
    settle_run,
)

__all__ = [
    "MONITOR_FIELDS",
    "POLICY_FIELDS",
    "RULE_FIELDS",
    "acknowledge",
    "check_rule",
    "check_settings",
    "compare_versions",
    "create_rule",
    "delete_rule",
    "ensure_monitor",
    "evaluate",
    "kinds_of",
    "on_alert",
    "patch_policy",
    "policy_of",
    "policy_values",
    "put_policy",
    "request_run",
    "resolve",
    "retrain_now",
    "run_due_monitors",
    "run_due_policies",
    "run_monitor",
    "run_retraining",
    "settle_run",
    "update_monitor",
    "update_rule",
    "window_values",
]
