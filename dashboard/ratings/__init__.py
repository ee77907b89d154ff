"""The ratings page's views (pages/ratings.py lays them out)."""
