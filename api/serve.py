"""`python -m api.serve`: the HTTP service under uvicorn, with the settings of the environment.

`semsearch serve` checks the index, then becomes this process (os.execve), handing its command-line choices
over as SEMSEARCH_* variables: the library never imports the service, and uvicorn's worker processes, which
build their app from the environment, get the same settings.
"""

from __future__ import annotations

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from semsearch.config import Settings

from .app import create_app


def main() -> None:
    settings = Settings.from_env()
    log_config = {**LOGGING_CONFIG, "loggers": {**LOGGING_CONFIG["loggers"], "semsearch": {
        "handlers": ["default"], "level": "INFO", "propagate": False}}}
    # X-Forwarded-For only from SEMSEARCH_TRUSTED_PROXIES: uvicorn's default believes it from 127.0.0.1, so a
    # local caller could change the address the admin rate limit counts with each request (api/security.py).
    proxies = {"proxy_headers": bool(settings.trusted_proxies),
               "forwarded_allow_ips": list(settings.trusted_proxies) or None}
    # ws="none": the service has no websocket route, and uvicorn would import a websocket library for it.
    if settings.workers <= 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=log_config, ws="none",
                    **proxies)
        return
    # A worker answers uvicorn's health pings only once it has re-imported this module (faiss, numpy:
    # seconds on a loaded 2-core machine); the default 5 s made uvicorn kill and respawn them forever.
    uvicorn.run("api.app:create_app", factory=True, host=settings.host, port=settings.port, ws="none",
                workers=settings.workers, log_config=log_config, timeout_worker_healthcheck=60, **proxies)


if __name__ == "__main__":
    main()
