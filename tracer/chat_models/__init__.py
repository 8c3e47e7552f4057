"""Chat models: the base class, the offline fake, and the providers (one module each)."""

from .base import BaseChatModel
from .fake import FakeChatModel

__all__ = ["BaseChatModel", "FakeChatModel"]
