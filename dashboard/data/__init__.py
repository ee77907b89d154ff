"""The data page's views (pages/data.py lays them out)."""
