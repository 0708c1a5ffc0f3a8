"""A real nginx for tests: the shipped ``deploy/nginx/nginx.conf`` run from a temporary prefix on a
loopback port, in the foreground, never as the system service."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
NGINX = next(
    (p for p in ("/usr/sbin/nginx", shutil.which("nginx")) if p and os.access(p, os.X_OK)), None
)
MISSING = (
    "nginx is not installed (Debian: apt-get install nginx; tests/install_system_deps.sh does it)"
)
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def _local(conf: str, prefix: Path, port: int) -> str:
    """``conf`` listening on 127.0.0.1:``port`` with its temp files and access log in ``prefix``."""
    conf, listens = re.subn(r"listen\s+\d+\s*;", f"listen 127.0.0.1:{port};", conf)
    assert listens == 1, "expected exactly one `listen PORT;` in the config"
    paths = "".join(f"    {name}_temp_path {prefix / name};\n" for name in _TEMP_DIRS)
    paths += f"    access_log {prefix / 'access.log'} combined;\n"
    if os.geteuid() == 0:  # workers would switch to an account that cannot read the prefix
        conf = "user root;\n" + conf
    return conf.replace("http {\n", "http {\n" + paths, 1)


def shipped_conf(upstreams: list[str], prefix: Path, port: int) -> str:
    """The shipped config with its upstream ``server tts:8880 ...;`` replaced by ``upstreams``
    (``host:port``), each with the same parameters."""
    shipped = SHIPPED_CONF.read_text()
    match = re.search(r"server tts:8880([^;]*);", shipped)
    assert match, "deploy/nginx/nginx.conf has no `server tts:8880 ...;` upstream line"
    servers = "\n        ".join(f"server {address}{match.group(1)};" for address in upstreams)
    return _local(shipped.replace(match.group(0), servers), prefix, port)


def check_conf(conf: str, prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``conf``."""
    assert NGINX, MISSING
    path = _write(conf, prefix)
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(path)],
        capture_output=True,
        text=True,
    )


def _write(conf: str, prefix: Path) -> Path:
    for name in _TEMP_DIRS:
        (prefix / name).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


class Nginx:
    """nginx running ``conf`` in the foreground; ``with Nginx(conf, prefix, port) as nginx:``."""

    def __init__(self, conf: str, prefix: Path, port: int) -> None:
        assert NGINX, MISSING
        self.prefix, self.url = prefix, f"http://127.0.0.1:{port}"
        self.error_log = prefix / "error.log"
        globals_ = f"daemon off; master_process on; pid {prefix / 'nginx.pid'};"
        command = [
            NGINX,
            "-p",
            str(prefix),
            "-e",
            str(self.error_log),
            "-c",
            str(_write(conf, prefix)),
        ]
        self.process = subprocess.Popen([*command, "-g", globals_])
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nginx did not listen in time") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
