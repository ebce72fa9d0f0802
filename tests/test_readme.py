"""The README documents every setting and the two commands CI relies on."""

from pathlib import Path

from veriframe_core.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    for name in Settings.model_fields:
        assert f"| `VERIFRAME_{name.upper()}` |" in README, name


def test_the_two_commands_are_documented_and_ci_runs_the_test_command() -> None:
    assert "./dev up" in README and "./dev test" in README
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "./dev test" in ci
