"""The in-cluster analysis controller that Flagger calls during rollouts (``rollouts controller serve``).

Installed with the ``controller`` extra; nothing outside this package imports it except its command, so the CLI's
other commands never pay for its stack (Starlette, uvicorn, httpx, prometheus-client). It imports nothing from
lint or the render (an import-linter contract): it reads only the configuration the render writes.
"""
