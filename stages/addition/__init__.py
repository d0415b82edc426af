"""Character-level addition of two numbers ("learning to execute"): +task=addition."""
from .task import AdditionTask

__all__ = ["AdditionTask"]
