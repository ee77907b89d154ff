"""Quill Lab's domain layer: plain Python, never imports streamlit.

Everything a page can do, a function here does; `python -m core <command>` exposes it on the command line.
"""
