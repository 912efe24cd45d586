"""Human judgement: a blind rating web app over a run's answers (``wattbench rate``).

    dimensions.py   the graded dimensions; presets/*.json ship general and counselling
    items.py        answers as opaque items, pages (single or pairwise), each rater's order
    store.py        ratings.sqlite: the schema, raters, one row per rating, CSV export
    server.py       the Starlette app (templates/, static/) and uvicorn
    command.py      the ``wattbench rate`` subcommand

The report reads the ratings back in wattbench.report.human. To add a preset, drop a
``presets/<name>.json`` of ``{"dimensions": [{"name": ..., "question": ...}]}``; ``--dimensions
<name>`` then finds it. starlette, jinja2 and uvicorn come with the ``rate`` extra.
"""
