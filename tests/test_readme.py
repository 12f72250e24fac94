"""The README's tour runs as written: its ```python blocks, in order, in one namespace."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 10, "the tour lost its code blocks"
    namespace = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md block {i + 1}", "exec"), namespace)
        except Exception as err:  # name the block that broke
            raise AssertionError(f"README block {i + 1} failed: {err!r}\n{block}") from err
