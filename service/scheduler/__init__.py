"""Study runners and the worker pool."""

from service.scheduler.runner import Scheduler

__all__ = ["Scheduler"]
