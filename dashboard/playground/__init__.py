"""The playground page's views (pages/playground.py lays them out)."""
