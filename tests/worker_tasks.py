"""Task functions that the worker-death tests queue into real qcluster processes."""

import os
import signal
import time

from mlops_site import jobs


def _slow(ctx):
    # A first attempt that lives long enough to be killed; a retry finishes quickly.
    steps = 40 if ctx.job.attempts == 1 else 3
    for step in range(steps):
        ctx.progress(100 * step / steps, f"step {step + 1} of {steps}")
        time.sleep(0.25)
    return {"finished_on_attempt": ctx.job.attempts}


def slow_job(job_id: int) -> None:
    jobs.run_job(job_id, _slow)


def _die(ctx):
    ctx.progress(10, "about to kill my own worker")
    os.kill(os.getpid(), signal.SIGKILL)


def self_killing_job(job_id: int) -> None:
    jobs.run_job(job_id, _die)
