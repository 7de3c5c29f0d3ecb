"""The README as a newcomer reads it: every Python example runs as written, against the local emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, ScriptedBrain

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, flags=re.S | re.M)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_the_readme_has_python_examples() -> None:
    assert len(PYTHON) >= 5


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_each_python_example_runs_as_written(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"readme_example_{index}.py"
    script.write_text(PYTHON[index], encoding="utf-8")
    brain = ScriptedBrain(transcripts=["What is the weather like in Paris today?"])
    env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    with EmulatorThread(EmulatorOptions(brain=brain, pace=0)) as emulator:
        # What the README tells a reader to export before running the examples offline.
        env |= {"INWORLD_API_KEY": "readme-key", "INWORLD_URL": emulator.url, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                                cwd=ROOT, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "readme-key" not in result.stdout + result.stderr
    assert "answer: 0.0 s" not in result.stdout


def test_the_two_commands_and_ci_agree() -> None:
    bash = [code.strip() for lang, code in BLOCKS if lang == "bash"]
    install, tests = bash[0], bash[1]
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e ")
    assert install.endswith(".venv/bin/inworld-realtime talk examples/question.wav --out answer.wav")
    assert tests == ".venv/bin/python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == tests  # CI ends with exactly the README's test command
    readme_extras, ci_extras = (set(re.findall(r'-e "\.\[([\w,]+)\]"', text)[0].split(","))
                                for text in (install, "\n".join(ci)))
    assert {"dev", "pipecat"} <= readme_extras <= ci_extras  # a fresh machine can run the second command


def test_the_readme_stands_on_its_own() -> None:
    """No files outside the repository, no issue numbers or notes; the variables it relies on explained."""
    for pattern in (r"\bissue\b", r"\bshared/", r"/work/", r"\bnote on\b", r"PROTOCOL-NOTES"):
        assert re.search(pattern, README, flags=re.I) is None, pattern
    for path in re.findall(r"`((?:examples|io_adapters|protocol|spec|tests|benchmarks)/[\w./-]+)`", README):
        assert (ROOT / path).exists(), path
    assert "INWORLD_URL" in README and "INWORLD_API_KEY" in README
    assert "Offline and with Inworld" in README


def test_the_readme_lists_every_exit_code_of_the_cli() -> None:
    from inworld_realtime.io_adapters.cli import EXIT_CODES

    rows = set(re.findall(r"^\| (\d+) \|", README, flags=re.M))
    assert rows == {str(code) for code in EXIT_CODES if code != 0}
