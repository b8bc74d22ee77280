"""Reports and the CI gate: pure functions of stored results (no model is ever run here).

collect.py turns result documents into what a report shows; html.py, markdown.py and csv.py
render it; charts.py draws inline SVG; gate.py compares a current run with a baseline;
sources.py reads documents from files or the results store.
"""
