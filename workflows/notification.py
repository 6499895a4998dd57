"""NotificationDelivery: one notification to one department's webhooks, retried with backoff.

The case workflow starts one per notification and leaves it (parent close policy ABANDON), so
the case never waits for a receiver, and a delivery outlives the case run that started it
(continue-as-new, archive). Deterministic orchestration only: which webhooks and how to retry
come from `plan_delivery`, recorded in this workflow's history.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.notifications import DeliveryOutcome, DeliveryPlan, DeliveryRequest, Notification

PLAN_TIMEOUT = timedelta(seconds=30)
RECORD_TIMEOUT = timedelta(seconds=30)
# The database may be down for a while: reading the plan and recording a failure keep trying.
DATABASE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# The requests run side by side; the rest of an attempt is a few database statements.
ATTEMPT_MARGIN = timedelta(seconds=30)
BACKOFF = 2.0


def delivery_workflow_id(notification: Notification) -> str:
    return f"notify-{notification.notification_id}"


@workflow.defn
class NotificationDelivery:
    @workflow.run
    async def run(self, notification: Notification) -> DeliveryOutcome:
        plan = await workflow.execute_local_activity(
            "plan_delivery",
            notification,
            result_type=DeliveryPlan,
            start_to_close_timeout=PLAN_TIMEOUT,
            retry_policy=DATABASE_RETRY,
        )
        if not plan.webhook_ids:
            return DeliveryOutcome(notification_id=notification.notification_id)
        request = DeliveryRequest(
            notification=notification,
            webhook_ids=plan.webhook_ids,
            timeout_seconds=plan.timeout_seconds,
        )
        outcome: DeliveryOutcome
        try:
            outcome = await workflow.execute_activity(
                "deliver_notification",
                request,
                result_type=DeliveryOutcome,
                start_to_close_timeout=timedelta(seconds=plan.timeout_seconds) + ATTEMPT_MARGIN,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=plan.retry_initial_seconds),
                    backoff_coefficient=BACKOFF,
                    maximum_interval=timedelta(seconds=plan.retry_maximum_seconds),
                    maximum_attempts=plan.max_attempts,
                ),
            )
        except ActivityError:
            # Every attempt failed: the delivery log says so, and nothing else waits for it.
            outcome = await workflow.execute_activity(
                "record_delivery_failure",
                request,
                result_type=DeliveryOutcome,
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=DATABASE_RETRY,
            )
        return outcome
