"""The task broker, prepared before the server's processes start."""

from __future__ import annotations


def declare_task_queues() -> None:
    """Declare Celery's task queues (and their exchanges) on the broker, once.

    On the embedded broker (kombu's filesystem transport) a binding is a JSON file that the first process
    to declare it creates, then writes, and the two steps are not atomic: a worker and beat declaring the
    same queue at the same moment on a fresh data folder (beat sends a task as it starts) can make one of
    them read the empty file and stop (JSONDecodeError, seen as `make run`'s worker exiting at startup; the
    race is known, treeverse/dvc-task#73). Declared here first, by one process, the file exists with its
    content before they start; later declarations read and rewrite it under the file's lock. On Redis it
    changes nothing."""
    from lifecycle.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.amqp.queues.values():
            queue(channel).declare()
