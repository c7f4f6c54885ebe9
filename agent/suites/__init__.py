"""Suites: run evoforge over a whole benchmark and report the table papers print."""
