"""What the README, the configuration, the notebooks and the messages tell a user to type is current."""

import re

from tests.conftest import PROJECT_ROOT

# Kedro 1.7 deprecates `kedro run --pipeline NAME` for `--pipelines NAME[,NAME]`; `kedro prefect run|deploy`
# take --pipelines the same way (--pipeline still works there too).
DEPRECATED_FLAG = re.compile(r"kedro (?:run|prefect (?:run|deploy))\b[^\n`]*--pipeline(?![s\w-])")


def test_no_deprecated_pipeline_flag_is_suggested():
    files = [
        PROJECT_ROOT / "README.md",
        *(PROJECT_ROOT / "conf").rglob("*.yml"),
        *(PROJECT_ROOT / "notebooks").glob("*.ipynb"),
        *(PROJECT_ROOT / "src").rglob("*.py"),
    ]
    found = [
        f"{path.relative_to(PROJECT_ROOT)}: {match.group(0)}"
        for path in files
        for match in DEPRECATED_FLAG.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use --pipelines (Kedro 1.7):\n" + "\n".join(found)


def test_telemetry_opt_out_is_documented_and_kept_in_tests_and_ci():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[: readme.index("## What runs")]  # the install section, where a newcomer reads
    assert "export KEDRO_DISABLE_TELEMETRY=1" in install and "consent: false" in install
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "export KEDRO_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1" in ci
    assert ".telemetry" in (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_tests_run_opted_out_of_telemetry():
    import os

    assert os.environ.get("KEDRO_DISABLE_TELEMETRY") == "1" and os.environ.get("DO_NOT_TRACK") == "1"
