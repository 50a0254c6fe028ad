"""Property-based tests of the command line (issue 20).

The parser: any sequence of a sub-command's options with any text as values parses or ends in
argparse's usage error (SystemExit 2), never another exception. The commands, in-process through
``lowrank_rnn.cli.main``: one invalid value among valid small arguments ends the command with one
line on stderr naming the option (exit status 2 for a bad argument, 1 for a bad folder or file),
no traceback, and before any work (the valid arguments around it are small, so a value that slipped
through would show as a short run, not a hang).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrank_rnn.cli import build_parser, main

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_PARSER = build_parser()
_SUB = next(a for a in _PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices
_VALUES = st.one_of(st.sampled_from(["", "0", "-1", "1", "2.5", "nan", "inf", "-inf", "1e309", "1e-400", "0x10", "١٢",
                                     "--", "-", " 3", "3 ", "true", "None", "rdm", "bptt", "es", "openai_es", "loss"]),
                    st.text(max_size=8), st.integers(-10**12, 10**12).map(str), st.floats().map(repr))


def _options(command: str) -> list[argparse.Action]:
    return [a for a in _SUB[command]._actions if a.option_strings and a.dest != "help"]


@st.composite
def _argv(draw):
    command = draw(st.sampled_from(sorted(_SUB)))
    argv = [command]
    for action in draw(st.lists(st.sampled_from(_options(command)), max_size=4)):
        argv.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0:
            argv.append(draw(_VALUES))
    positional = [a for a in _SUB[command]._actions if not a.option_strings]
    argv += [draw(_VALUES) for _ in positional][: draw(st.integers(0, len(positional)))]
    return argv


@FUZZ
@given(_argv())
def test_parser_accepts_or_gives_a_usage_error(argv):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _PARSER.parse_args(argv)
    except SystemExit as exit_:
        assert exit_.code == 2 and "error:" in err.getvalue(), (argv, err.getvalue())


# ---------------------------------------------------------------- commands with one bad value
_WORK = tempfile.mkdtemp(prefix="lowrank-fuzz-cli-")
_FILE = os.path.join(_WORK, "a_file")
with open(_FILE, "w") as _fh:
    _fh.write("not a folder\n")
_EMPTY = os.path.join(_WORK, "empty_run")
os.makedirs(_EMPTY, exist_ok=True)
_DAMAGED = os.path.join(_WORK, "damaged_run")
os.makedirs(_DAMAGED, exist_ok=True)
for _name in ("model.npz", "config.json", "checkpoint.npz"):
    with open(os.path.join(_DAMAGED, _name), "wb") as _fh:
        _fh.write(b"PK\x03\x04 truncated")

_BAD_INT = st.sampled_from(["0", "-1", "-7"])
_BAD_FLOAT = st.sampled_from(["nan", "inf", "-inf", "-1", "1e309"])
_BAD_OUT = st.sampled_from(["", _FILE, os.path.join(_FILE, "sub")])

#: command -> (valid small arguments, {option: strategy of invalid values}, words the message may use)
_COMMANDS = {
    "example": (["--N", "20", "--g", "0.5"],
                {"--N": st.sampled_from(["1", "0", "-5"]), "--g": _BAD_FLOAT, "--out": _BAD_OUT}),
    "motifs": (["--n-e", "40", "--n-i", "10"],
               {"--n-e": _BAD_INT, "--n-i": _BAD_INT, "--j-e": _BAD_FLOAT, "--j-i": _BAD_FLOAT, "--g": _BAD_FLOAT,
                "--chain": st.sampled_from(["nan", "inf", "2", "-2"])}),
    "train": (["--task", "rdm", "--hidden", "8", "--epochs", "1", "--batch", "4"],
              {"--task": st.sampled_from(["", "nope", "RDM"]), "--hidden": _BAD_INT, "--rank": _BAD_INT,
               "--epochs": _BAD_INT, "--batch": _BAD_INT, "--lr": _BAD_FLOAT, "--noise": _BAD_FLOAT,
               "--out": _BAD_OUT}),
    "evaluate": ([], {"run": st.sampled_from(["", _FILE, _EMPTY, _DAMAGED, os.path.join(_WORK, "missing")]),
                      "--trials": _BAD_INT}),
    "reproduce": (["mastrogiuseppe2018", "--quick"],
                  {"name": st.sampled_from(["", "nope", "Mastrogiuseppe2018"]), "--out": _BAD_OUT}),
}


@st.composite
def _bad_command(draw):
    command = draw(st.sampled_from(sorted(_COMMANDS)))
    valid, bad = _COMMANDS[command]
    option = draw(st.sampled_from(sorted(bad)))
    value = draw(bad[option])
    argv = [command, *valid]
    if option in ("name", "run"):  # the positional argument
        argv = [command, value, *valid[1:]] if command == "reproduce" else [command, value]
    else:  # --option=value, so that argparse takes "-1" or "-inf" as a value, not an option
        if option in argv:
            del argv[argv.index(option):argv.index(option) + 2]
        argv.append(f"{option}={value}")
    if command in ("example", "train", "reproduce") and option != "--out":
        argv += ["--out", os.path.join(_WORK, f"run-{command}")]
    if command == "evaluate" and option != "run":
        argv.insert(1, _DAMAGED)
    return option, argv


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(monkeypatch):
    monkeypatch.chdir(_WORK)  # an --out "" that slipped through must not write into the repository


@settings(FUZZ, max_examples=30)
@given(_bad_command())
def test_one_bad_value_gives_one_line(case):
    option, argv = case
    err, out = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        main(argv)
    message = err.getvalue()
    assert info.value.code in (1, 2), (argv, info.value.code, message)
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, (argv, message)
    words = {option, option.lstrip("-"), option.lstrip("-").replace("-", "_"), {"--hidden": "N", "--N": "N",
             "--out": "folder", "run": "folder", "name": "reproduction"}.get(option, option)}
    assert any(w in message for w in words) or "file" in message, (argv, message)
