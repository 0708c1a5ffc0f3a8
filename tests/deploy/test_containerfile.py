"""The Containerfile, checked by reading it (tests/image builds and runs it): two stages, the flavour
argument, a non-root user, a health check, port 8880, and only commands and files that exist in
this repository, the install and fetch commands being the very ones CI runs."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tts_service.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
README = (ROOT / "README.md").read_text()


@dataclass
class Instruction:
    name: str
    value: str


def stages() -> list[list[Instruction]]:
    """The instructions of each stage (FROM starts one; ARGs before the first FROM are left out)."""
    with CONTAINERFILE.open("rb") as f:
        structure = DockerfileParser(fileobj=f).structure
    result: list[list[Instruction]] = []
    for item in structure:
        if item["instruction"] == "FROM":
            result.append([])
        if result and item["instruction"] != "COMMENT":
            result[-1].append(Instruction(item["instruction"], item["value"]))
    return result


def values(stage: list[Instruction], name: str) -> list[str]:
    return [i.value for i in stage if i.name == name]


def shell_text(value: str) -> str:
    """A RUN/CMD value as one shell string (exec form ``["a", "b"]`` joined)."""
    return " ".join(json.loads(value)) if value.startswith("[") else value


def all_commands() -> str:
    """Every command the file runs (RUN, CMD, HEALTHCHECK), one per line."""
    lines = []
    for stage in stages():
        for i in stage:
            if i.name == "HEALTHCHECK":
                lines.append(shell_text(i.value.split("CMD", 1)[1].strip()))
            elif i.name in ("RUN", "CMD"):
                lines.append(shell_text(i.value))
    return "\n".join(lines)


def test_it_is_multi_stage_and_the_final_stage_copies_only_results() -> None:
    build, final = stages()
    assert build[0].value.endswith(" AS build")
    assert " AS " not in final[0].value
    assert values(final, "COPY") and all(
        c.startswith("--from=build") for c in values(final, "COPY")
    )
    assert "pip install" not in " ".join(values(final, "RUN"))  # nothing installed twice


def test_a_build_argument_selects_cpu_or_gpu() -> None:
    build, final = stages()
    assert "FLAVOR=cpu" in values(build, "ARG")
    gpu_branch = " ".join(values(build, "RUN"))
    assert '"$FLAVOR" = gpu' in gpu_branch and "onnxruntime-gpu" in gpu_branch
    assert "[torch]" in gpu_branch
    assert '"$FLAVOR" != cpu' in gpu_branch  # any other value fails the build


def test_the_model_is_baked_in_only_when_asked() -> None:
    build, _ = stages()
    assert "BAKE_MODELS=false" in values(build, "ARG")
    assert any(
        '"$BAKE_MODELS" = true' in run and "tts-service fetch" in run
        for run in values(build, "RUN")
    )


def test_baking_is_decided_after_the_installs_so_changing_it_reuses_them() -> None:
    build, _ = stages()
    names = [(i.name, i.value) for i in build]
    bake = names.index(("ARG", "BAKE_MODELS=false"))
    installs = [n for n, (name, value) in enumerate(names) if "pip install" in value]
    assert installs and max(installs) < bake


def test_docker_reads_the_same_ignore_file_as_podman() -> None:
    """Docker and BuildKit read only .dockerignore: without it the whole tree is sent and
    __pycache__ copied into the build."""
    assert (ROOT / ".dockerignore").resolve() == (ROOT / ".containerignore").resolve()


def test_the_final_stage_runs_as_a_non_root_user() -> None:
    _, final = stages()
    users = values(final, "USER")
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0") and uid.isdigit()  # numeric: Kubernetes can verify runAsNonRoot
    assert any(f"--uid {uid}" in run for run in values(final, "RUN"))


def test_it_serves_on_all_interfaces_port_8880_with_a_health_check() -> None:
    _, final = stages()
    assert values(final, "EXPOSE") == ["8880"]
    env = " ".join(values(final, "ENV"))
    assert "TTS_HOST=0.0.0.0" in env and "TTS_PORT=8880" in env and "TTS_MODELS_DIR=/models" in env
    (check,) = values(final, "HEALTHCHECK")
    assert check.split("CMD", 1)[1].strip() == '["tts-service", "healthcheck"]'
    assert values(final, "CMD") == ['["tts-service", "serve"]']


def test_it_installs_with_the_readme_command_that_ci_runs_minus_editable() -> None:
    serve = re.findall(r"```sh\n(.+?)\n```", README.split("## The two commands", 1)[1])[0]
    install = serve.split("&&")[0].strip()
    assert install == "python -m pip install -c constraints.txt -e ."
    build, _ = stages()
    assert install.replace(" -e ", " ") in values(build, "RUN")


def test_the_install_is_not_editable_and_the_image_keeps_no_source_tree() -> None:
    """An editable install points into /app: the image would then need the sources, and the
    web player (package data) would not be checked to travel with the package."""
    installs = re.findall(r"pip install [^;&\n]*", all_commands())
    assert installs
    for install in installs:
        assert not re.search(r"(^|\s)(-e|--editable)(\s|=|$)", install), install
    _, final = stages()
    assert not [copy for copy in values(final, "COPY") if "/app" in copy]


def test_every_tts_service_command_and_option_it_runs_exists() -> None:
    used = re.findall(r"tts-service\s+([\w-]+)([^;&\n]*)", all_commands())
    assert {name for name, _ in used} >= {"fetch", "serve", "healthcheck"}
    for name, rest in used:
        assert name in cli.commands, f"`tts-service {name}` is no command"
        options = {opt for param in cli.commands[name].params for opt in param.opts}
        for option in re.findall(r"--[\w-]+", rest):
            assert option in options, f"`tts-service {name}` has no option {option}"


def test_every_extra_it_installs_is_defined() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    used = {
        e for group in re.findall(r"\./?\[([\w,-]+)\]", all_commands()) for e in group.split(",")
    }
    assert used == {"torch"}
    if "torch" not in extras:
        pytest.skip(
            "the `torch` extra arrives with the PyTorch backend; until then FLAVOR=gpu lacks it"
        )
    assert used <= set(extras)


def test_every_file_it_copies_exists_and_is_not_ignored() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".containerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for stage in stages():
        for copy in values(stage, "COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = shlex.split(copy)
            for source in sources:
                path = source.rstrip("/")
                assert (ROOT / path).exists(), f"COPY {source}: no such file in the repository"
                hits = [p for p in ignored if fnmatch.fnmatch(path, p.rstrip("/"))]
                assert not hits, f"COPY {source} is excluded by .containerignore {hits}"


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint comes with the test extra")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(["hadolint", str(CONTAINERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
