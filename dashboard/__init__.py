"""The Streamlit shell of Quill Lab: the entry point, the sidebar, shared widgets, figures and translations."""
