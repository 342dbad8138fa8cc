"""Locust users for bench/load.py: each signs in as a different partner member and reads the portal's pages.

Not run on its own: bench/load.py starts `locust --headless -f bench/locustfile.py` with TIERLINE_LOAD_SESSIONS
(a JSON file: the tenant's host and one session cookie per member) and TIERLINE_LOAD_USER_RATE (requests/s per user).
"""

import json
import os
import random
import time
from itertools import count

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

with open(os.environ["TIERLINE_LOAD_SESSIONS"], encoding="utf-8") as handle:
    SESSIONS = json.load(handle)
NEXT_SESSION = count()
USER_RATE = float(os.environ["TIERLINE_LOAD_USER_RATE"])


class PartnerMember(FastHttpUser):
    wait_time = constant_throughput(USER_RATE)

    def on_start(self) -> None:
        cookie = SESSIONS["cookies"][next(NEXT_SESSION) % len(SESSIONS["cookies"])]
        self.headers = {"Host": SESSIONS["host"], "Cookie": f"{SESSIONS['cookie_name']}={cookie}"}
        # Start somewhere in the first interval: users spawned together must not all ask at once (a backlog that
        # would outlast the ramp-up), so the arrivals are spread evenly at the fixed rate from the start.
        time.sleep(random.random() / USER_RATE)  # noqa: S311 - a workload, not a secret; gevent-patched sleep

    def _page(self, path: str, name: str) -> None:
        # A redirect (to the login page) is a failure: every request must be served signed in.
        get = self.client.get
        with get(path, headers=self.headers, name=name, allow_redirects=False, catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"HTTP {reply.status_code}")

    @task(2)
    def dashboard(self) -> None:
        self._page("/", "dashboard")

    @task(1)
    def rewards(self) -> None:
        self._page("/rewards/", "rewards")

    @task(1)
    def statement(self) -> None:
        self._page("/statement/", "statement")
