"""The systemd units in deploy/systemd load cleanly, start the installed command and stay hardened."""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from supportdesk.config import Settings

from .processes import BASH, REPOSITORY, SUPPORTDESK, system_command

UNITS = REPOSITORY / "deploy" / "systemd"
# Where docs/deployment.md installs the command; the units must name exactly this path.
INSTALLED_COMMAND = "/opt/supportdesk/bin/supportdesk"
# systemd-analyze rates exposure from 0 (locked down) to 10 (unprotected) and takes the threshold in
# tenths. The units rate about 1.2; this leaves room for a setting that turns out to be needed, and
# fails if the hardening block is dropped.
EXPOSURE_THRESHOLD = 20


def unit_files() -> list[Path]:
    return sorted(UNITS.glob("*.service"))


Unit = dict[str, dict[str, list[str]]]


def read_unit(path: Path) -> Unit:
    """A unit's settings by section and key, each with every value it is given (keys such as Wants= and
    Environment= may repeat)."""
    sections: defaultdict[str, defaultdict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        sections[section][key].append(value)
    return {name: dict(keys) for name, keys in sections.items()}


@pytest.fixture
def installed_units(tmp_path: Path) -> list[Path]:
    """Copies of the units whose ExecStart names this environment's ``supportdesk``: verify checks that
    the command exists and is executable, and /opt/supportdesk is not there on a development machine."""
    copies = []
    for unit in unit_files():
        text = unit.read_text(encoding="utf-8")
        assert f"ExecStart={INSTALLED_COMMAND} " in text, f"{unit.name} does not start {INSTALLED_COMMAND}"
        copy = tmp_path / unit.name
        copy.write_text(text.replace(INSTALLED_COMMAND, str(SUPPORTDESK)), encoding="utf-8")
        copies.append(copy)
    return copies


def test_there_is_a_unit_for_the_server_and_one_for_the_worker() -> None:
    commands = {path.name: read_unit(path)["Service"]["ExecStart"] for path in unit_files()}

    assert commands == {
        "supportdesk.service": [f"{INSTALLED_COMMAND} serve"],
        "supportdesk-worker.service": [f"{INSTALLED_COMMAND} worker"],
    }


def test_the_units_pass_systemd_analyze_verify(installed_units: list[Path]) -> None:
    analyze = system_command("systemd-analyze")

    done = subprocess.run(  # noqa: S603  (a system tool on our own files)
        [analyze, "verify", *map(str, installed_units)], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    # An unknown or misspelt setting is only a warning, with exit status 0: it must not be there either.
    assert done.stderr == ""


@pytest.mark.parametrize("unit", [path.name for path in unit_files()])
def test_each_unit_is_hardened(installed_units: list[Path], tmp_path: Path, unit: str) -> None:
    analyze = system_command("systemd-analyze")

    done = subprocess.run(  # noqa: S603  (a system tool on our own files)
        [analyze, "security", "--offline=yes", f"--threshold={EXPOSURE_THRESHOLD}", str(tmp_path / unit)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("unit", [path.name for path in unit_files()])
def test_each_unit_reads_the_settings_file_and_runs_unprivileged(unit: str) -> None:
    service = read_unit(UNITS / unit)["Service"]

    assert service["EnvironmentFile"] == ["/etc/supportdesk/supportdesk.env"]
    assert (service["DynamicUser"], service["User"]) == (["yes"], ["supportdesk"])
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]


def test_the_server_hands_the_jobs_to_the_worker_it_pulls_in() -> None:
    unit = read_unit(UNITS / "supportdesk.service")

    assert unit["Service"]["Environment"] == ["SUPPORTDESK_BACKGROUND=off"]
    assert "supportdesk-worker.service" in unit["Unit"]["Wants"]
    assert (UNITS / "supportdesk-worker.service").is_file()


def example_settings() -> dict[str, str]:
    """The example settings file as systemd reads it: NAME=value lines; comments and blanks skipped."""
    settings = {}
    for line in (UNITS / "supportdesk.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    return settings


def test_the_example_settings_file_sets_what_production_requires() -> None:
    settings = example_settings()

    assert settings["SUPPORTDESK_ENV"] == "production"
    assert {"SUPPORTDESK_SECRET_KEY", "SUPPORTDESK_DATABASE_URL"} <= settings.keys()
    assert settings["SUPPORTDESK_FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    # A misspelt name would not be an error, only a setting silently left at its default.
    assert settings.keys() <= {f"SUPPORTDESK_{name.upper()}" for name in Settings.model_fields}


def test_a_shell_reads_the_example_settings_file_as_systemd_does() -> None:
    """docs/deployment.md loads the file into a root shell to run commands with the services' settings."""
    script = 'set -a; . "$1"; set +a; env -0'
    done = subprocess.run(  # noqa: S603  (bash on our own file)
        [BASH, "-c", script, "bash", str(UNITS / "supportdesk.env.example")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=True,
    )
    exported = dict(item.split("=", 1) for item in done.stdout.split("\0") if item.startswith("SUPPORTDESK_"))

    assert exported == example_settings()
