"""The train page's views (pages/train.py lays them out)."""
