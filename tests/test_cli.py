"""`python -m core`: help lists the commands; bad input is one `error:` line and a non-zero exit."""


from tests.conftest import run_core


def test_help_lists_the_commands():
    result = run_core("--help")
    assert result.returncode == 0
    for command in ["starter", "model", "hardware"]:
        assert command in result.stdout


def test_bad_input_is_one_error_line(workspace):
    for args in [("nosuchcommand",), ("starter", "--seed", "abc"), ("model", "./missing-dir"), ("model", "bad name!")]:
        result = run_core(*args, QUILL_HOME=str(workspace.root))
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)


def test_model_describes_the_starter(workspace):
    result = run_core("model", "starter", QUILL_HOME=str(workspace.root))
    assert result.returncode == 0, result.stderr
    assert "starter model" in result.stdout and "parameters" in result.stdout


def test_hardware_summary():
    result = run_core("hardware")
    assert result.returncode == 0 and "CPU:" in result.stdout and "RAM:" in result.stdout
