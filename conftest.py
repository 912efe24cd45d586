"""Project-level pytest configuration.

wattbench itself is loaded through its ``pytest11`` entry point once the package is installed
(`pip install -e '.[llamacpp,test]'`); this file only enables pytest's own `pytester` fixture,
which the plugin's tests use to run pytest inside pytest.
"""

pytest_plugins = ["pytester"]
