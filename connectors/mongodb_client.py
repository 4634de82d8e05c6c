"""The MongoClient of a store profile, and what of MongoDB's errors may reach a row: the URI
and its credentials never do."""

from __future__ import annotations

import re

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from .errors import ConfigError
from .settings import StoreSettings

APP_NAME = "flink-rag"


def open_client(settings: StoreSettings) -> MongoClient:
    """A MongoClient for the profile, with its timeouts; the URI stays out of every message."""
    timeout_ms = max(1, int(settings.timeout_s * 1000))
    try:
        return MongoClient(
            settings.uri.get_secret_value(),
            appname=APP_NAME,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (PyMongoError, ValueError) as err:
        raise ConfigError(
            f"MONGODB_URI for store {settings.name!r} is not usable ({type(err).__name__}); "
            "fix the variable (or its _FILE)"
        ) from None  # the original message may quote the URI


_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def safe_message(err: OperationFailure) -> str:
    text = str((err.details or {}).get("errmsg") or err)
    return _CREDENTIALS.sub("//***@", text)[:300]
