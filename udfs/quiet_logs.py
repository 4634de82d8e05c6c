"""Keep secrets out of the log of the JVM a PyFlink program starts.

When a Python worker's environment closes, Beam's `DefaultJobBundleFactory` logs the whole
process-environment payload: every environment variable of the worker, OPENAI_API_KEY or a
MONGODB_URI with a password among them. A user's own program (the README's path:
`TableEnvironment.create(...)`, `register(t_env)`, `configure(t_env, {...})`) starts its
gateway JVM with PyFlink's stock log configuration, before any flink-rag code runs, and a
local job's TaskManager and workers run in that JVM. So register() and configure() switch
the logger off in the running JVM through log4j's own API; the project's runners and
clusters also write it into their log4j files (flink_rag.local.log4j).
"""

from __future__ import annotations

from typing import Any

# Logger -> level. Each entry says what it would otherwise print.
QUIET_LOGGERS = {
    # Prints the Python worker's whole environment ("payload: ...") at INFO when it closes an
    # environment and at WARN when that cleanup races a shutdown; every message of this class
    # names the environment, so it is switched off (task failures are logged by Flink itself).
    "org.apache.beam.runners.fnexecution.control.DefaultJobBundleFactory": "OFF",
}


def quiet_gateway_jvm(t_env: Any) -> None:
    """Set the QUIET_LOGGERS' levels in the JVM behind `t_env` (the mini-cluster's, or a
    remote job's client), before any of the job's workers start."""
    if getattr(t_env, "_j_tenv", None) is None:
        return  # not a PyFlink TableEnvironment (a test's stand-in): no JVM to quiet
    from pyflink.java_gateway import get_gateway  # the running one: t_env made it

    jvm = get_gateway().jvm
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    for name, level in QUIET_LOGGERS.items():
        configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.toLevel(level))
