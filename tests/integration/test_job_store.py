"""Job state transitions in Redis: guarded, counted, never moving a finished job."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, NotFound
from shared.jobs import JobStore
from shared.replies import Replies


@pytest.fixture()
def jobs(redis_client, settings) -> JobStore:
    return JobStore(redis_client, settings.redis_prefix)


def test_start_counts_deliveries_and_keeps_first_start_time(jobs):
    job = jobs.create("app-js", "embed", 4)
    assert job["status"] == "queued" and job["attempts"] == 0
    assert jobs.start(job["id"]) == 1
    first = jobs.get(job["id"])["started_at"]
    assert jobs.start(job["id"]) == 2  # a redelivery
    again = jobs.get(job["id"])
    assert again["attempts"] == 2 and again["started_at"] == first
    jobs.set_progress(job["id"], 3)
    assert job["id"] in jobs.active("app-js", "embed")
    assert jobs.succeed(job["id"], {"n": 4})
    assert job["id"] not in jobs.active("app-js", "embed")
    done = jobs.get(job["id"])
    assert done["status"] == "succeeded" and done["result"] == {"n": 4}
    assert done["progress"] == {"done": 4, "total": 4}  # success completes progress
    # Finished jobs do not move again.
    assert jobs.start(job["id"]) is None
    assert not jobs.fail(job["id"], {"code": "x", "message": "y"})
    jobs.set_progress(job["id"], 0)
    assert jobs.get(job["id"])["progress"]["done"] == 4


def test_cancel_rules(jobs):
    job = jobs.create("app-js", "train", 1)
    assert jobs.cancel(job["id"], "app-js")["status"] == "cancelled"
    assert jobs.start(job["id"]) is None
    with pytest.raises(Conflict):
        jobs.cancel(job["id"], "app-js")
    with pytest.raises(NotFound):
        jobs.cancel(job["id"], "another-app")
    with pytest.raises(NotFound):
        jobs.get("missing")


def test_a_success_pushes_its_reply_in_the_same_step_and_only_when_it_applied(
        jobs, redis_client, settings):
    replies = Replies(redis_client, settings.redis_prefix)
    job = jobs.create("app-js", "predict", 1)
    jobs.start(job["id"])
    reply = replies.reply(job["id"], {"done": True, "result": {"n": 1}})
    assert jobs.succeed(job["id"], {"n": 1}, reply)
    assert redis_client.ttl(reply.key) > 0  # expires if nobody waits
    assert replies.wait(job["id"], 1) == {"done": True, "result": {"n": 1}}
    # A job cancelled while it ran: its success does not apply, nothing is pushed.
    cancelled = jobs.create("app-js", "predict", 1)
    jobs.start(cancelled["id"])
    jobs.cancel(cancelled["id"], "app-js")
    late = replies.reply(cancelled["id"], {"done": True, "result": {"n": 2}})
    assert not jobs.succeed(cancelled["id"], {"n": 2}, late)
    assert redis_client.exists(late.key) == 0
    assert jobs.get(cancelled["id"])["status"] == "cancelled"
