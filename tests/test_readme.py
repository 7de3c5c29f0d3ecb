"""The README and docs/ as a newcomer reads them: every example and command runs as written, against local servers."""

from __future__ import annotations

import os
import random
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, ScriptedBrain

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "docs").glob("*.md"))}
TEXTS = {"README.md": README, **DOCS}
#: Documents other parts of the project write; the README and docs/README.md link to them.
WRITTEN_ELSEWHERE = {"docs/benchmarks.md", "docs/long-sessions.md", "docs/driver.md", "docs/transcripts.md",
                     "docs/webrtc.md"}
QUESTION = "What is the weather like in Paris today?"


def _blocks(text: str, lang: str) -> list[str]:
    return [code for found, code in re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.S | re.M) if found == lang]


PYTHON = [(name, code) for name, text in TEXTS.items() for code in _blocks(text, "python")]
BASH = [(name, code) for name, text in TEXTS.items() for code in _blocks(text, "bash")]
COMMANDS = [(name, part.strip()) for name, code in BASH for line in code.splitlines()
            for part in line.split("#", 1)[0].split(" && ") if part.strip()]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_the_readme_is_for_users() -> None:
    lines = README.splitlines()
    assert len(lines) < 200
    assert lines[0].startswith("# ") and "Inworld Realtime API" in lines[2]  # what it is, before any command
    assert len(PYTHON) >= 8 and len(BASH) >= 6


@pytest.mark.parametrize(("name", "code"), PYTHON, ids=[f"{name}-{i}" for i, (name, _) in enumerate(PYTHON)])
def test_each_python_example_runs_as_written(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    brain = ScriptedBrain(transcripts=[QUESTION])
    with EmulatorThread(EmulatorOptions(brain=brain, pace=0)) as emulator:
        # What the README tells a reader to export before running the examples offline.
        env = _env(INWORLD_API_KEY="readme-key", INWORLD_URL=emulator.url)
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                                cwd=ROOT, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "readme-key" not in result.stdout + result.stderr
    assert "answer: 0.0 s" not in result.stdout


def test_every_command_uses_the_venvs_own_programs() -> None:
    """Bare python/pip fail unless a venv is activated, which nothing here asks for."""
    for name, command in COMMANDS:
        assert command.startswith((".venv/bin/", "python3 -m venv .venv", "export ")), (name, command)
    for name, text in TEXTS.items():
        for inline in re.findall(r"`([^`\n]+)`", text):
            assert not re.match(r"(python3?|pip3?|pytest|inworld-realtime) \S*[./-]", inline), (name, inline)
            if inline.startswith(".venv/bin/python -m "):
                module = inline.split()[2]
                assert (ROOT / Path(*module.split("."))).exists() or _importable(module), (name, inline)
            elif inline.startswith(".venv/bin/python "):
                assert (ROOT / inline.split()[1]).is_file(), (name, inline)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_the_two_commands_and_ci_agree() -> None:
    bash = [code.strip() for code in _blocks(README, "bash")]
    install, tests = bash[0], bash[1]
    assert install.startswith('python3 -m venv .venv && .venv/bin/pip install -e ".[')  # no -q: pip shows progress
    assert install.endswith(".venv/bin/inworld-realtime talk examples/question.wav --out answer.wav")
    assert tests == ".venv/bin/python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci  # CI runs exactly the README's test command
    readme_extras, ci_extras = (set(re.findall(r'-e "\.\[([\w,]+)\]"', text)[0].split(","))
                                for text in (install, "\n".join(ci)))
    assert {"dev", "pipecat", "speech"} <= readme_extras <= ci_extras  # a fresh machine can run the second command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


#: Commands that another test runs exactly as written (the examples, run where a user runs them).
RUN_ELSEWHERE = {".venv/bin/python examples/pipecat_bot.py": "tests/test_examples.py",
                 ".venv/bin/python examples/livekit_agent.py": "tests/test_examples.py"}


def test_every_shell_command_runs_as_written(tmp_path: Path) -> None:
    """Each block in order, from a scratch copy of the checkout's layout (the repository is left untouched):
    installs are CI's to run; a server runs until it listens; INWORLD_API_KEY reaches a local emulator."""
    scratch = tmp_path / "clone"
    scratch.mkdir()
    for name in ("examples", ".venv", "tests"):
        (scratch / name).symlink_to(ROOT / name)
    for command, test in RUN_ELSEWHERE.items():
        assert (ROOT / test).read_text(encoding="utf-8").count(command.split("/")[-1]) >= 1
    ran = 0
    for name, code in BASH:
        env = _env()
        for line in code.splitlines():
            for command in (part.strip() for part in line.split("#", 1)[0].split(" && ")):
                if not command or command.startswith("python3 -m venv") or "pip install" in command:
                    continue  # CI (.ci/run) installs exactly so; test_the_two_commands_and_ci_agree checks it
                if command == ".venv/bin/python -m pytest -q" or command in RUN_ELSEWHERE:
                    continue
                argv = shlex.split(command)
                if argv[0] == "export":
                    env |= dict(pair.split("=", 1) for pair in argv[1:])
                    continue
                _run(argv, env, scratch, name)
                ran += 1
    assert ran >= 6
    assert sorted(p.name for p in scratch.iterdir()) == [".venv", "answer.wav", "examples", "tests"]


def _run(argv: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
    if "--port" in argv and "--say" not in argv:  # a server: it must come up and listen
        port = _free_port()  # the documented port may be taken by another run on this machine
        argv = [str(port) if prev == "--port" else arg for prev, arg in zip(["", *argv[:-1]], argv, strict=True)]
        with subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as server:
            deadline = time.monotonic() + 30
            while not _listening(port) and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            up = _listening(port)
            server.terminate()
            server.wait(10)
        assert up, (name, argv)
        return
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
    if out is not None and out.is_absolute() and not out.exists():  # written outside the scratch copy: removed after
        try:
            _run_once(argv, env, cwd, name)
        finally:
            out.unlink(missing_ok=True)
        return
    _run_once(argv, env, cwd, name)


def _run_once(argv: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
    key = env.get("INWORLD_API_KEY")
    if key is not None and env.get("INWORLD_URL", "").startswith("ws://127.0.0.1:8765"):
        env = {**env, "INWORLD_URL": ""}  # the emulator the docs start in another terminal: one of our own
    if key is not None and not env.get("INWORLD_URL"):
        with EmulatorThread(EmulatorOptions(api_key=key, brain=ScriptedBrain(transcripts=[QUESTION]))) as emulator:
            result = subprocess.run(argv, cwd=cwd, env={**env, "INWORLD_URL": emulator.url}, capture_output=True,
                                    text=True, timeout=120)
    else:
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (name, argv, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    if argv[1:3] == ["talk", "examples/question.wav"] and "--transcript" not in argv:
        assert f"you:       {QUESTION}" in result.stdout.splitlines(), (argv, result.stdout)


def test_the_readme_stands_on_its_own() -> None:
    """No files outside the repository, no issue numbers or notes; every path and link it names exists."""
    for name, text in TEXTS.items():
        for pattern in (r"\bissue\b", r"\bshared/", r"/work/", r"\bnote on\b", r"PROTOCOL-NOTES"):
            assert re.search(pattern, text, flags=re.I) is None, (name, pattern)
        for path in re.findall(r"`((?:examples|io_adapters|protocol|spec|tests|benchmarks|emulator|docs)/[\w./-]+)`",
                               text):
            assert (ROOT / path).exists(), (name, path)
        base = (ROOT / name).parent
        for link in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" in link:
                continue
            target = (base / link).resolve().relative_to(ROOT).as_posix()
            assert (ROOT / target).exists() or target in WRITTEN_ELSEWHERE, (name, link)
    assert "INWORLD_URL" in README and "INWORLD_API_KEY" in README
    assert "Offline and with Inworld" in README
    assert "Authorization: Basic <value>" in README and "platform.inworld.ai" in README


def test_the_readme_lists_every_exit_code_of_the_cli() -> None:
    from inworld_realtime.io_adapters.cli import EXIT_CODES

    rows = set(re.findall(r"^\| (\d+) \|", README, flags=re.M))
    assert rows == {str(code) for code in EXIT_CODES if code != 0}


def test_what_the_docs_say_about_retries_is_what_the_clients_do() -> None:
    """Refused connections: the attempts, the time they take and the bounds the README and docs give."""
    from inworld_realtime.io_adapters.supervisor import Options, Retry, Supervisor

    options = Options()
    attempts, waits = set(), []
    for seed in range(500):
        supervisor = Supervisor(options, random.Random(seed))
        supervisor.start(0.0)
        now, tries = 0.0, 0
        while True:
            tries += 1
            decision = supervisor.failed(now, ConnectionRefusedError())
            if not isinstance(decision, Retry):
                break
            now += decision.delay
        attempts.add(tries)
        waits.append(now)
    assert attempts == {options.max_reconnect_attempts + 1}
    said = re.search(r"`max_reconnect_attempts`\s+\((\d+)\) times, never past `connect_timeout` \((\d+) s\): when "
                     r"nothing listens, it gives up after (\d+) attempts in\s+about (\d+) s", README)
    assert said is not None
    assert int(said[1]) == options.max_reconnect_attempts and int(said[2]) == options.connect_timeout
    assert int(said[3]) == options.max_reconnect_attempts + 1
    assert abs(statistics.median(waits) - int(said[4])) < 0.5
    docs = DOCS["docs/architecture.md"]
    assert f"gives up after {options.max_reconnect_attempts + 1} attempts" in docs
    assert f"at most {sum(min(options.backoff_max, options.backoff_initial * 2 ** k) for k in range(5)):g} s" in docs
