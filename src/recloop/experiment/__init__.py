"""Experiments: configs, the runner, results tables, plots and HTML reports."""
