"""``compose.yaml``: valid against the Compose Specification's schema (shipped with
check-jsonschema, offline), and wired as documented: N replicas behind the shipped nginx."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose(), schema)


def test_replicas_are_built_from_the_containerfile_with_the_model_baked_in() -> None:
    tts = compose()["services"]["tts"]
    assert tts["build"] == {
        "context": ".",
        "dockerfile": "Containerfile",
        "args": {"FLAVOR": "cpu", "BAKE_MODELS": "true"},
    }
    assert tts["deploy"]["replicas"] == "${TTS_REPLICAS:-2}"
    assert tts["healthcheck"]["test"] == ["CMD", "tts-service", "healthcheck"]
    assert tts["environment"]["TTS_ONNX_THREADS"] == tts["deploy"]["resources"]["limits"]["cpus"]
    assert "ports" not in tts  # reached only through nginx


def test_nginx_balances_the_replicas_with_the_shipped_config_once_they_are_healthy() -> None:
    nginx = compose()["services"]["nginx"]
    source, target, _ = nginx["volumes"][0].split(":")
    assert (ROOT / source).resolve() == ROOT / "deploy" / "nginx" / "nginx.conf"
    assert target == "/etc/nginx/nginx.conf"
    assert nginx["depends_on"]["tts"]["condition"] == "service_healthy"
    conf = (ROOT / source).read_text()
    assert "least_conn;" in conf and "server tts:8880" in conf and "listen 8880;" in conf
    assert nginx["ports"] == ["${TTS_PUBLISHED_PORT:-8880}:8880"]


def test_docker_does_not_kill_a_replica_before_its_streams_have_had_their_grace_period() -> None:
    """Docker kills a container stop_grace_period after SIGTERM (10 s unless set): that must
    cover TTS_SHUTDOWN_GRACE (as set there, or its default) and the server's exit margin, within
    which it is gone whatever still runs."""
    from tts_service.config import Settings
    from tts_service.server import EXIT_MARGIN_S

    tts = compose()["services"]["tts"]
    grace = float(tts["environment"].get("TTS_SHUTDOWN_GRACE", Settings().shutdown_grace))
    stop = tts["stop_grace_period"]
    assert stop.endswith("s") and float(stop[:-1]) >= grace + EXIT_MARGIN_S
