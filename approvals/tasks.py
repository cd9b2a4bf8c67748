from celery import shared_task

from approvals.services import remind_pending_reviewers as remind


@shared_task(name="approvals.remind_pending_reviewers")
def remind_pending_reviewers() -> int:
    """Scheduled by beat (APPROVAL_REMINDER_CHECK_MINUTES); safe to run twice or at once on two workers."""
    return remind()
