"""``deploy/nginx/nginx.conf`` is accepted by a real nginx (``nginx -t``) and keeps what streaming
and balancing need; tests/integration/test_nginx.py runs it in front of two replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.nginx import MISSING, NGINX, SHIPPED_CONF, check_conf, shipped_conf


@pytest.mark.skipif(NGINX is None, reason=MISSING)
def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    conf = shipped_conf(["127.0.0.1:1", "127.0.0.1:2"], tmp_path, free_port())
    result = check_conf(conf, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "directive",
    [
        "least_conn;",
        "zone tts 64k;",  # without it each nginx worker counts only its own connections
        "proxy_http_version 1.1;",
        "proxy_buffering off;",
        "proxy_read_timeout 300s;",
    ],
)
def test_the_shipped_config_streams_and_balances(directive: str) -> None:
    assert directive in SHIPPED_CONF.read_text()
