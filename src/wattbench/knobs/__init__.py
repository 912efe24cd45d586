"""The knobs people turn as axes: GPU power limit and clocks, reasoning effort."""
