"""The README's code runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).parents[1] / "README.md"


def test_readme_quick_look_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python block"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["spikes"].shape == (100, 8, 32)
    assert namespace["v_out"].shape == (100, 8, 20)
    assert namespace["s_t"].shape == (8, 32)
